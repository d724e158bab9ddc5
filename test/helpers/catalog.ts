// Which catalog the tests run on: SQLite (default) or, with CALLVAULT_TEST_CATALOG=postgres, a
// fresh PostgreSQL database per archive on the server CALLVAULT_TEST_POSTGRES (default
// postgres://postgres@127.0.0.1:5432/postgres), created here and dropped by whoever removes the
// archive (releaseTestArchive, releaseTestArchivesUnder); a run that dies leaves databases that
// the next run drops once they are an hour old.
import { randomBytes } from 'node:crypto';
import { cp } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { initArchive, openArchive, type Archive } from '../../src/cli/archive.ts';

export type TestCatalog = 'sqlite' | 'postgres';

export const TEST_CATALOG: TestCatalog = process.env.CALLVAULT_TEST_CATALOG === 'postgres' ? 'postgres' : 'sqlite';
export const TEST_POSTGRES = process.env.CALLVAULT_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL of database `name` on the test server. */
export function postgresUrl(name: string): string {
  const u = new URL(TEST_POSTGRES);
  u.pathname = `/${name}`;
  return u.toString();
}

async function onServer<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_POSTGRES });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const PREFIX = 'cv_';
const created = new Set<string>();
let swept = false;

/**
 * Databases left by test runs that died (named cv_<base-36 ms>_<random>), older than an hour,
 * are dropped once per process; anything younger may belong to a run going on right now.
 */
async function sweepStale(c: pg.Client): Promise<void> {
  if (swept) return;
  swept = true;
  const { rows } = await c.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'cv\\_%'`);
  for (const { datname } of rows) {
    const born = parseInt(datname.split('_')[1] ?? '', 36);
    if (Number.isFinite(born) && born < Date.now() - 3_600_000) {
      await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
    }
  }
}

/** A new, empty database on the test server; returns its URL. */
export async function createTestDatabase(template?: string): Promise<string> {
  const name = `${PREFIX}${Date.now().toString(36)}_${randomBytes(5).toString('hex')}`;
  await onServer(async (c) => {
    await sweepStale(c);
    await c.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`);
  });
  created.add(name);
  return postgresUrl(name);
}

/** Drops a database made by createTestDatabase (closing any connection still open to it). */
export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  if (!created.delete(name)) return;
  await onServer((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}


/** The catalog database of each archive directory made on PostgreSQL here (absolute path -> URL). */
const catalogOf = new Map<string, string>();

/** The database URL the archive in `dir` uses, when the tests run on PostgreSQL and it has one. */
export function databaseUrlOf(dir: string): string | undefined {
  return catalogOf.get(resolve(dir));
}

/**
 * The catalog for an archive about to be created in `dir`: on PostgreSQL a fresh database
 * (remembered for `dir`), on SQLite nothing (DATA/catalog.sqlite).
 */
export async function catalogFor(dir: string): Promise<{ databaseUrl?: string }> {
  if (TEST_CATALOG !== 'postgres') return {};
  const known = databaseUrlOf(dir);
  if (known) return { databaseUrl: known };
  const url = await createTestDatabase();
  catalogOf.set(resolve(dir), url);
  return { databaseUrl: url };
}

/** initArchive on the test catalog. */
export async function initTestArchive(dir: string): Promise<void> {
  await initArchive(dir, await catalogFor(dir));
}

/** openArchive with the catalog the archive in `dir` was created with here. */
export function openTestArchive(dir: string): Promise<Archive> {
  return openArchive(dir, { databaseUrl: databaseUrlOf(dir) });
}

/** Drops the database of the archive in `dir` (PostgreSQL), once nothing uses it any more. */
export async function releaseTestArchive(dir: string): Promise<void> {
  const url = databaseUrlOf(dir);
  if (!url) return;
  catalogOf.delete(resolve(dir));
  await dropTestDatabase(url);
}

/** Drops the databases of every archive made here under the directory `root` (a test's temporary folder). */
export async function releaseTestArchivesUnder(root: string): Promise<void> {
  const prefix = `${resolve(root)}/`;
  for (const dir of [...catalogOf.keys()]) if (dir.startsWith(prefix)) await releaseTestArchive(dir);
}

/**
 * A copy of the closed archive in `from` at `to`: its directory and, on PostgreSQL, its
 * database (copied as a template, so nothing may be connected to it).
 */
export async function copyTestArchive(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true });
  const url = databaseUrlOf(from);
  if (url) catalogOf.set(resolve(to), await createTestDatabase(new URL(url).pathname.slice(1)));
}

/** The environment a `callvault` child process needs to open the archive in `dir`. */
export function catalogEnv(dir: string | undefined): Record<string, string> {
  const url = dir === undefined ? undefined : databaseUrlOf(dir);
  return url ? { CALLVAULT_DATABASE_URL: url } : {};
}

/**
 * Everything the catalog holds, as bytes: every value of every row of every table (binary
 * values as they are, text as UTF-8). On PostgreSQL the catalog is not a file in the data
 * directory, so scans for what is at rest read this instead.
 */
export async function catalogContents(db: Archive['db']): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const t of await db.introspection.getTables()) {
    const rows = await (db as unknown as Kysely<Record<string, Record<string, unknown>>>).selectFrom(t.name).selectAll().execute();
    for (const row of rows) {
      for (const v of Object.values(row)) {
        if (v instanceof Uint8Array) parts.push(Buffer.from(v));
        else if (v !== null && v !== undefined) parts.push(Buffer.from(String(v), 'utf8'));
        parts.push(Buffer.from('\n'));
      }
    }
  }
  return Buffer.concat(parts);
}
