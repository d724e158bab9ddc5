// Opens the catalog and brings its schema up to date. SQLite is the embedded default; PostgreSQL
// (a postgres:// URL) is the scale-out catalog. The same migrations run on both (dialect.ts and
// migrations/guards.ts hold what differs), and the code above sees the same rows: bigint
// columns as JS numbers, binary columns as Uint8Array.
import { chmodSync, existsSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, Kysely, type Expression, type RawBuilder, PostgresDialect, sql, PostgresDriver, SqliteDialect, type DatabaseConnection, type Driver, type PostgresDialectConfig, type TransactionSettings } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import type { Database } from './schema.ts';
import { dialectOf, WRITER_LOCK } from './dialect.ts';
import { TextGuardPlugin } from './text-guard.ts';
import * as m001 from './migrations/001-foundation.ts';
import * as m002 from './migrations/002-live-ingest.ts';
import * as m003 from './migrations/003-audit-merkle.ts';
import * as m004 from './migrations/004-audit-alerts.ts';
import * as m005 from './migrations/005-identity.ts';
import * as m006 from './migrations/006-archive-binding.ts';
import * as m007 from './migrations/007-daily-counts.ts';
import * as m008 from './migrations/008-ingest-nodes.ts';
import * as m009 from './migrations/009-patient-index.ts';
import * as m010 from './migrations/010-partial-number-indexes.ts';
import * as m011 from './migrations/011-upload-length.ts';
import * as m012 from './migrations/012-audit-patient-index.ts';
import * as m013 from './migrations/013-erasure-reach.ts';

const migrations: Record<string, Migration> = {
  '001-foundation': m001,
  '002-live-ingest': m002,
  '003-audit-merkle': m003,
  '004-audit-alerts': m004,
  '005-identity': m005,
  '006-archive-binding': m006,
  '007-daily-counts': m007,
  '008-ingest-nodes': m008,
  '009-patient-index': m009,
  '010-partial-number-indexes': m010,
  '011-upload-length': m011,
  '012-audit-patient-index': m012,
  '013-erasure-reach': m013,
};

class StaticMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export type Catalog = Kysely<Database>;

export type OpenCatalogOptions =
  /** Path of the SQLite file. */
  | { file: string }
  /** A postgres:// (or postgresql://) connection URL. */
  | { url: string };

/** The catalog cannot be reached or brought up to date; the message is for an operator. */
export class CatalogError extends Error {}

/**
 * Opens a catalog, brought up to this version's migrations. `existing`: it must be one callvault
 * made already (an archive's, when the archive is opened): a missing SQLite file or a database
 * without callvault's tables is refused, and nothing is made in its place (a catalog lost in a
 * restore, or a mistyped database, would otherwise open as a new, empty archive and take in calls
 * apart from the archive's history).
 */
export async function openCatalog(opts: OpenCatalogOptions, o: { existing?: boolean } = {}): Promise<Catalog> {
  if (o.existing && 'file' in opts && !existsSync(opts.file)) {
    throw new CatalogError(`the catalog ${opts.file} is missing; restore it from a backup (callvault makes a catalog only when it creates an archive)`);
  }
  const db = 'url' in opts ? await openPostgres(opts.url) : openSqlite(opts.file);
  try {
    if (o.existing && 'url' in opts && !(await hasMigrations(db))) {
      throw new CatalogError(`the database ${describeDatabaseUrl(opts.url)} holds no callvault catalog; check --database-url (or CALLVAULT_DATABASE_URL): ` +
        'callvault makes a catalog only when it creates an archive (init) or moves one there (migrate)');
    }
    await migrate(db);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  locations.set(db, opts);
  return db;
}

/** Whether callvault's migrations ever ran on this PostgreSQL database (its migration table exists). */
async function hasMigrations(db: Catalog): Promise<boolean> {
  const { rows } = await sql<{ t: string | null }>`SELECT to_regclass('kysely_migration')::text AS t`.execute(db);
  return (rows[0]?.t ?? null) !== null;
}

const locations = new WeakMap<Catalog, OpenCatalogOptions>();

/**
 * Where an open catalog lives, for work spread over worker threads that each open their own
 * connection (audit verification); undefined for a catalog not opened by openCatalog.
 */
export function catalogLocation(db: Catalog): OpenCatalogOptions | undefined {
  return locations.get(db);
}

/**
 * A second, read-only way into a catalog openCatalog has opened and migrated (a worker thread's):
 * SQLite opened read-only, PostgreSQL as a pool of one. No migration, no writes.
 */
export async function openCatalogReader(opts: OpenCatalogOptions): Promise<Catalog> {
  if ('url' in opts) return openPostgres(opts.url, 1);
  return sqliteCatalog(new SqliteDatabase(opts.file, { readonly: true, fileMustExist: true }));
}

/** How long a SQLite statement waits for another connection's lock. */
const BUSY_TIMEOUT_MS = 5000;

/** The tables an erasure rewrites or deletes from. */
const ERASURE_TABLES = ['recordings', 'uploads', 'ingest_journal', 'break_glass', 'pending_deletions'];

/**
 * After an erasure (or after rows were rewritten: `tables`): what the catalog still keeps of the rows as they were is reclaimed, as far
 * as the catalog can. SQLite (secure_delete on) zeroes freed space as it writes, but the
 * write-ahead log holds the pages from before until a checkpoint copies the new ones over them;
 * TRUNCATE then empties it. The checkpoint does not wait for readers (another connection: a
 * verification worker, a backup): the driver is synchronous, and a wait would stop the whole
 * server; it reports false instead, to be tried again later. PostgreSQL: VACUUM makes the old
 * row versions' space reusable, but neither zeroes it nor reaches the server's write-ahead log
 * (README: what erasure cannot reach on PostgreSQL).
 */
export async function reclaimFreedSpace(db: Catalog, tables: readonly string[] = ERASURE_TABLES): Promise<boolean> {
  if (dialectOf(db as Kysely<unknown>) === 'postgres') {
    await sql`VACUUM ${sql.join(tables.map((t) => sql.table(t)))}`.execute(db);
    return true;
  }
  return db.connection().execute(async (conn) => {
    await sql`PRAGMA busy_timeout = 0`.execute(conn);
    try {
      const { rows } = await sql<{ busy: number }>`PRAGMA wal_checkpoint(TRUNCATE)`.execute(conn);
      return !rows[0]?.busy;
    } finally {
      await sql.raw(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`).execute(conn);
    }
  });
}

/** Background jobs that run on one node at a time (their PostgreSQL advisory lock: WRITER_LOCK and this number). */
export const JOBS = { retention: 1, purge: 2 } as const;

/**
 * Runs a background job unless another node is running it: on PostgreSQL a session advisory
 * lock, held on one connection for the run, decides (undefined when another node holds it); on
 * SQLite there is one serving process, and `fn` runs.
 */
export async function runAlone<T>(db: Catalog, job: keyof typeof JOBS, fn: () => Promise<T>): Promise<T | undefined> {
  if (dialectOf(db as Kysely<unknown>) !== 'postgres') return fn();
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_lock(${sql.lit(WRITER_LOCK)}, ${sql.lit(JOBS[job])}) AS locked`.execute(conn);
    if (!rows[0]?.locked) return undefined;
    try {
      return await fn();
    } finally {
      await sql`SELECT pg_advisory_unlock(${sql.lit(WRITER_LOCK)}, ${sql.lit(JOBS[job])})`.execute(conn);
    }
  });
}

const sqliteDrivers = new WeakMap<Catalog, SqliteDatabase.Database>();

/**
 * The JSON text of an array of values, built by the catalog where it can be trusted to: byte for
 * byte what JSON.stringify writes for an array of strings, integers and nulls, so that a reader
 * gets one string per row instead of one value per column. Other values (a real number, text
 * that is not well-formed UTF-8) may come out otherwise: a caller that hashes the text checks it
 * against a stored hash and writes the JSON itself where they differ.
 * - SQLite: json_array, but null for a row where any item is a BLOB (any SQLite column can hold
 *   one): json_array would write a BLOB that is well-formed JSONB as the JSON it holds, so bytes
 *   that the app reads as bytes could pass for the text they spell.
 * - PostgreSQL: not offered (null). Functions, operators and casts are found through the search
 *   path, and whoever may create them could make the text say anything; the caller reads the
 *   columns.
 */
export function jsonArrayOf(db: Catalog, items: readonly Expression<unknown>[]): RawBuilder<string | null> | null {
  if (dialectOf(db as Kysely<unknown>) === 'postgres') return null;
  return sql<string | null>`CASE WHEN ${sql.join(items.map((i) => sql`typeof(${i}) = 'blob'`), sql` OR `)} THEN NULL ELSE json_array(${sql.join(items)}) END`;
}

/**
 * The SQLite driver under an embedded catalog (undefined on PostgreSQL), for work that binds
 * many rows to one prepared statement (a bulk load, a batch of audit events). Use it only inside `db.connection().execute(...)` or a transaction's callback,
 * which hold Kysely's one connection: Kysely's own queries wait, and no other caller's
 * transaction is half-way on the connection meanwhile.
 */
export function sqliteDriverOf(db: Catalog): SqliteDatabase.Database | undefined {
  return sqliteDrivers.get(db);
}

function openSqlite(file: string): Catalog {
  const fresh = !existsSync(file);
  const sqlite = new SqliteDatabase(file);
  if (fresh) chmodSync(file, 0o600);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a committed transaction (an audit event, an acknowledged recording) survives power loss.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  // What is deleted or overwritten (an erased recording's header, its numbers, a filed upload's
  // copy of them) is overwritten with zeros in the file, not left in free pages to be read back.
  sqlite.pragma('secure_delete = ON');
  return sqliteCatalog(sqlite);
}

/** Prepared statements kept per SQL text: the most recent ones. */
const STATEMENT_CACHE = 256;

/**
 * The connection as Kysely prepares its queries on it, with each statement prepared once and
 * reused. Kysely prepares a new statement for every query; each holds native memory that only
 * a full garbage collection returns, which a small heap rarely needs: 200,000 queries grew the
 * process by 770 MB, and an erasure run of 50,000 recordings by 1.8 GB. A statement still
 * being read (a streamed result) is not shared: the query gets a fresh one.
 */
function reusingStatements(sqlite: SqliteDatabase.Database): { close(): void; prepare(sql: string): SqliteDatabase.Statement } {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => {
      cache.clear();
      sqlite.close();
    },
    prepare(source) {
      const cached = cache.get(source);
      if (cached && !cached.busy) {
        cache.delete(source); // most recently used last
        cache.set(source, cached);
        return cached;
      }
      const stmt = sqlite.prepare(source);
      if (!cached) {
        cache.set(source, stmt);
        if (cache.size > STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
      }
      return stmt;
    },
  };
}

/** Kysely over an open SQLite connection, as every catalog is read: numbers as numbers, NUL refused. */
function sqliteCatalog(sqlite: SqliteDatabase.Database): Catalog {
  sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  sqlite.defaultSafeIntegers(false);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite) }), plugins: [new TextGuardPlugin()] });
  sqliteDrivers.set(db, sqlite);
  return db;
}

// PostgreSQL type ids (pg_type.oid) whose text form pg would otherwise hand over as strings.
const INT8 = 20;
const NUMERIC = 1700;

function toNumber(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) && !(Number.isFinite(n) && !/^-?\d+$/.test(text))) {
    throw new RangeError(`catalog value ${text} does not fit a JavaScript number`);
  }
  return n;
}

/** bigint (times in ms, sizes, counts) and numeric (sums) as numbers; bytea stays a Buffer. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if ((oid === INT8 || oid === NUMERIC) && format !== 'binary') return toNumber;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** The URL without its password, to name the database in messages. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return 'the PostgreSQL catalog';
  }
}

/**
 * Every transaction takes the writer lock first (dialect.ts WRITER_LOCK): on PostgreSQL as on
 * SQLite, one writing transaction at a time, so that the business code's read-then-write
 * transactions mean the same on both and across any number of nodes.
 */
class WriterLockDriver extends PostgresDriver {
  override async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await super.beginTransaction(connection, settings);
    await connection.executeQuery(CompiledQuery.raw(`select pg_advisory_xact_lock(${WRITER_LOCK})`));
  }
}

class CatalogPostgresDialect extends PostgresDialect {
  readonly #config: PostgresDialectConfig;
  constructor(config: PostgresDialectConfig) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new WriterLockDriver(this.#config);
  }
}

async function openPostgres(url: string, connections = 10): Promise<Catalog> {
  const pool = new pg.Pool({
    connectionString: url, types, application_name: 'callvault',
    max: connections, idleTimeoutMillis: 10_000, connectionTimeoutMillis: 10_000,
  });
  pool.on('error', () => { /* an idle connection dropped: the pool replaces it */ });
  // A connection dropped while checked out and idle (a job holding its lock between queries;
  // ended by the server, a failover, a proxy) emits its error on the client, where nothing would
  // listen and the process would exit. Its next query fails instead, and the pool drops it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const db = new Kysely<Database>({
    dialect: new CatalogPostgresDialect({
      pool,
      // A committed transaction must be durable before it is acknowledged (as SQLite's
      // synchronous=FULL): a server defaulting to synchronous_commit=off is overridden.
      onCreateConnection: async (c) => {
        await c.executeQuery(CompiledQuery.raw("select case when current_setting('synchronous_commit') = 'off' then set_config('synchronous_commit', 'on', false) end"));
      },
    }),
    plugins: [new TextGuardPlugin()],
  });
  try {
    await db.executeQuery(CompiledQuery.raw('select 1'));
  } catch (e) {
    await db.destroy();
    throw new CatalogError(`cannot reach the PostgreSQL catalog ${describeDatabaseUrl(url)}: ${(e as Error).message}`, { cause: e });
  }
  return db;
}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrations() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`catalog migration ${failed?.migrationName ?? ''} failed: ${String((error as Error)?.message ?? error)}`);
  }
}
