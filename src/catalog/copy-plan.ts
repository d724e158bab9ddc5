// What copying a catalog to another (copy.ts) must know of each table: its key, how rows may
// be written into the target, and in which order. Adding a table in a migration means adding
// it here: the copier refuses a catalog holding a table it does not know, rather than leave it
// behind.
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

/**
 * How rows reach the target, and how a copy run again (after an interruption, the archive
 * perhaps used in between) makes it equal to the source again:
 * - mirror: inserted; run again, a target row the source no longer has is deleted and one that
 *   differs is rewritten with the source's values (a recording erased, held, a session ended);
 * - append: the catalog numbers rows itself (the audit sequence, guards.ts numberInCommitOrder),
 *   so the copy goes on after the target's last key, in key order, and each batch must end on
 *   the source's number; rows never change (the catalog refuses it), so none is rewritten;
 * - insert: rows the catalog refuses to change or delete (the archive binding, checkpoints):
 *   inserted once; one that differs is left for the verification to report;
 * - overwrite: kept by a trigger as rows of another table arrive (recordings_per_day), then set
 *   to the source's values; run again, as mirror.
 */
type CopyMode = 'mirror' | 'append' | 'insert' | 'overwrite';

export interface TablePlan {
  table: string;
  /** The primary key, in index order. */
  key: readonly string[];
  mode: CopyMode;
  /** A PostgreSQL identity column (serialKey), whose sequence must go past the copied ids. */
  identity?: string;
}

/** Dependency order: people before what refers to them, recordings before their daily counts. */
export const COPY_PLAN: readonly TablePlan[] = [
  // First: the copy claims the target for this archive, so no other archive can take it meanwhile.
  { table: 'archive_binding', key: ['archive_recipient'], mode: 'insert' },
  { table: 'users', key: ['id'], mode: 'mirror' },
  { table: 'enrollments', key: ['token_hash'], mode: 'mirror' },
  { table: 'sessions', key: ['id_hash'], mode: 'mirror' },
  { table: 'recovery_codes', key: ['user_id', 'code_hash'], mode: 'mirror' },
  { table: 'passkeys', key: ['id'], mode: 'mirror' },
  { table: 'auth_throttle', key: ['key'], mode: 'mirror' },
  { table: 'auth_challenges', key: ['id_hash'], mode: 'mirror' },
  { table: 'break_glass', key: ['id'], mode: 'mirror' },
  { table: 'api_keys', key: ['id'], mode: 'mirror' },
  { table: 'recordings', key: ['id'], mode: 'mirror' },
  { table: 'recordings_per_day', key: ['day', 'care_unit'], mode: 'overwrite' },
  { table: 'ingest_nodes', key: ['id'], mode: 'mirror' },
  { table: 'uploads', key: ['id'], mode: 'mirror' },
  { table: 'ingest_journal', key: ['seq'], mode: 'mirror', identity: 'seq' },
  { table: 'audit_events', key: ['seq'], mode: 'append' },
  { table: 'audit_checkpoints', key: ['size'], mode: 'insert' },
  { table: 'audit_alerts', key: ['id'], mode: 'mirror', identity: 'id' },
  // Objects an erasure queued for deletion (jobs/purge.ts): the catalog the archive uses goes
  // on deleting them. The objects themselves are not copied (cli/migrate.ts).
  { table: 'pending_deletions', key: ['blob_key'], mode: 'mirror' },
];

export type Row = Record<string, unknown>;
export type AnyDb = Kysely<Record<string, Row>>;

export const asAny = (db: object): AnyDb => db as AnyDb;

/** The tables of a catalog (without Kysely's own migration tables). */
export async function tablesOf(db: AnyDb): Promise<string[]> {
  return (await db.introspection.getTables()).map((t) => t.name);
}

/**
 * Up to `limit` rows of `plan.table` after `after` (a key, or null from the start), in key
 * order as the catalog's own primary-key index gives it (keyset paging: each page is an index
 * range, however large the table). The two dialects may order text keys differently, so
 * nothing compares a page of one catalog with a page of the other: rows are matched by key.
 */
export async function pageAfter(db: AnyDb, plan: TablePlan, after: readonly unknown[] | null, limit: number): Promise<Row[]> {
  const cols = sql.join(plan.key.map((k) => sql.ref(k)));
  const where = after === null ? sql`` : plan.key.length === 1
    ? sql`where ${sql.ref(plan.key[0]!)} > ${after[0]}`
    : sql`where (${cols}) > (${sql.join(after.map((v) => sql`${v}`))})`;
  const { rows } = await sql<Row>`select * from ${sql.table(plan.table)} ${where} order by ${cols} limit ${limit}`.execute(db);
  return rows;
}

export const keyOf = (plan: TablePlan, row: Row): unknown[] => plan.key.map((k) => row[k]);

/** A row's key as text, the same whichever dialect read it: rows of the two catalogs are matched by it. */
export const keyText = (plan: TablePlan, row: Row): string => plan.key.map((k) => canonical(row[k])).join(',');

/** Key values bound per lookup query: well inside SQLite's limit (32766) and PostgreSQL's (65535). */
const LOOKUP_PARAMS = 5_000;

/** The rows of `plan.table` with the keys of `rows` (a page of the other catalog), by keyText. */
export async function rowsWithKeysOf(db: AnyDb, plan: TablePlan, rows: readonly Row[]): Promise<Map<string, Row>> {
  const found = new Map<string, Row>();
  const per = Math.max(1, Math.floor(LOOKUP_PARAMS / plan.key.length));
  for (let i = 0; i < rows.length; i += per) {
    const part = rows.slice(i, i + per);
    const where = plan.key.length === 1
      ? sql`${sql.ref(plan.key[0]!)} in (${sql.join(part.map((r) => sql`${r[plan.key[0]!]}`))})`
      : sql.join(part.map((r) => sql`(${sql.join(plan.key.map((k) => sql`${sql.ref(k)} = ${r[k]}`), sql` and `)})`), sql` or `);
    const { rows: got } = await sql<Row>`select * from ${sql.table(plan.table)} where ${where}`.execute(db);
    for (const r of got) found.set(keyText(plan, r), r);
  }
  return found;
}

/** One value in a form that is the same whichever dialect read it (bigint as a number, binary as bytes). */
function canonical(v: unknown): string {
  if (v === null || v === undefined) return 'n';
  if (v instanceof Uint8Array) return `b${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `i${String(v)}`;
  if (typeof v === 'string') return `s${JSON.stringify(v)}`;
  throw new TypeError(`unexpected catalog value of type ${typeof v}`);
}

/** A row's SHA-256 over every column by name, the same whichever dialect read it. */
export function rowHash(row: Row): Buffer {
  const h = createHash('sha256');
  for (const col of Object.keys(row).sort()) h.update(`${JSON.stringify(col)}=${canonical(row[col])};`);
  return h.digest();
}

interface TableDigest {
  rows: number;
  /** Hex SHA-256 over the row count and the sum of every row's SHA-256. */
  sha256: string;
}

const MOD = 1n << 256n;

/**
 * A digest of a table's whole content that does not depend on row order (the dialects order
 * text differently): each row is hashed (every column by name), the hashes are summed modulo
 * 2^256, and the count and sum hashed once more. Two tables with the same digest hold the same
 * rows, barring a collision of SHA-256 sums (this catches copies gone wrong, not an adversary
 * with write access to the target: the audit log's own Merkle proofs are for that).
 */
export async function tableDigest(db: AnyDb, plan: TablePlan, pageRows = 2000): Promise<TableDigest> {
  let sum = 0n;
  let rows = 0;
  let after: unknown[] | null = null;
  for (;;) {
    const page = await pageAfter(db, plan, after, pageRows);
    for (const r of page) sum = (sum + BigInt(`0x${rowHash(r).toString('hex')}`)) % MOD;
    rows += page.length;
    if (page.length < pageRows) break;
    after = keyOf(plan, page[page.length - 1]!);
  }
  const sha256 = createHash('sha256').update(`${rows}:${sum.toString(16).padStart(64, '0')}`).digest('hex');
  return { rows, sha256 };
}
