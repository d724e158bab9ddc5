// The bytes of an audit entry that the Merkle log hashes: every column but the sequence number
// (an entry's place in the log is its position in the tree), in a fixed order, as JSON.
import { sql, type Insertable, type Kysely, type Selectable } from 'kysely';
import { jsonArrayOf } from '../catalog/db.ts';
import type { AuditEventTable, Database } from '../catalog/schema.ts';
import { EMPTY_ROOT, HASH_SIZE, leafHash, leafHashOfText } from './merkle.ts';

/** The columns of an audit entry that are hashed: all but the sequence number and the hash itself. */
export type EntryColumns = Omit<Selectable<AuditEventTable>, 'seq' | 'leaf_hash'> | Omit<Insertable<AuditEventTable>, 'seq' | 'leaf_hash'>;

const VERSION = 'callvault.audit.v1';

/** The hashed columns, in the order they are hashed (after VERSION). */
const HASHED = ['at', 'actor_type', 'actor_id', 'action', 'object_type', 'object_id', 'care_unit', 'patient_pseudonym', 'outcome', 'request_id', 'source', 'details'] as const;

export function entryBytes(e: EntryColumns): Buffer {
  return Buffer.from(JSON.stringify([VERSION, ...HASHED.map((c) => e[c])]));
}

export function entryLeafHash(e: EntryColumns): Buffer {
  return leafHash(entryBytes(e));
}

/**
 * Entries read at a time when the whole log is read: a page's strings die young (16,384 at a
 * time made each verify worker spend a tenth of its time in garbage collection more).
 */
export const PAGE = 4096;

/** The log's sequence numbers have a gap where they should run on (or an entry lacks its hash): positions are not seq - 1. */
export class GapError extends Error {}

/**
 * The entries at leaf positions [lo, hi), which must be seq lo+1..hi without a gap, a page at a
 * time: `page(after, limit)` reads up to `limit` entries with seq > after (and <= hi) in order.
 * A gap, or an entry out of place, throws GapError.
 */
export async function* contiguousPages<R extends { seq: number }>(lo: number, hi: number, page: (after: number, limit: number) => Promise<R[]>, limit = PAGE): AsyncGenerator<R[]> {
  let last = lo;
  while (last < hi) {
    const rows = await page(last, limit);
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.seq !== ++last) throw new GapError(`audit entry ${last} is missing or out of place`);
    }
    yield rows;
  }
  if (last !== hi) throw new GapError(`audit entries ${last + 1}..${hi} are missing`);
}

/** An entry as `audit verify` reads it: its leaf hash recomputed from its columns, and whether the stored one agrees. */
export interface Rehashed {
  seq: number;
  leaf: Buffer;
  intact: boolean;
}

/**
 * The entries with seq > after (and <= hi), in order, up to `limit`, each re-hashed from its
 * columns. Where the catalog builds each entry's JSON (jsonArrayOf: SQLite), which is much cheaper
 * to read than its columns one by one, that text is hashed; where its hash differs from the stored
 * one (or the catalog would not build it), the entry is read again column by column and hashed
 * from entryBytes, which alone defines an entry's bytes. So an entry is intact when the catalog's
 * JSON or entryBytes gives its stored hash: the catalog's JSON of the columns decodes to the same
 * values as entryBytes' (both are JSON of the same values), so it can match the stored hash only
 * if entryBytes of the same columns does. Elsewhere (PostgreSQL) every entry is read column by
 * column.
 */
export async function rehashedPage(db: Kysely<Database>, after: number, limit: number, hi = Number.MAX_SAFE_INTEGER): Promise<Rehashed[]> {
  const inRange = db.selectFrom('audit_events').where('seq', '>', after).where('seq', '<=', hi).orderBy('seq').limit(limit);
  const json = jsonArrayOf(db, [sql`CAST(${sql.lit(VERSION)} AS text)`, ...HASHED.map((c) => sql.ref(c))]);
  if (!json) return (await inRange.selectAll().execute()).map(columnWise);
  const rows = await inRange.select(['seq', json.as('entry'), sql<string | null>`hex(leaf_hash)`.as('stored')]).execute();
  const stored = Buffer.alloc(HASH_SIZE);
  const out: Rehashed[] = [];
  const recheck = new Map<number, number>();
  for (const r of rows) {
    const leaf = r.entry === null ? null : leafHashOfText(r.entry);
    const intact = leaf !== null && r.stored !== null && r.stored.length === 2 * HASH_SIZE && stored.write(r.stored, 'hex') === HASH_SIZE && leaf.equals(stored);
    if (intact) {
      out.push({ seq: r.seq, leaf, intact });
    } else {
      recheck.set(r.seq, out.length);
      out.push({ seq: r.seq, leaf: EMPTY_ROOT, intact: false }); // replaced below, from the columns
    }
  }
  for (let k = 0; k < recheck.size; k += 500) {
    const seqs = [...recheck.keys()].slice(k, k + 500);
    for (const row of await db.selectFrom('audit_events').selectAll().where('seq', 'in', seqs).execute()) out[recheck.get(row.seq)!] = columnWise(row);
  }
  return out;
}

/** An entry hashed from its columns as read (entryBytes), and checked against its stored hash. */
function columnWise(row: Selectable<AuditEventTable>): Rehashed {
  const leaf = entryLeafHash(row);
  return { seq: row.seq, leaf, intact: row.leaf_hash !== null && leaf.equals(row.leaf_hash) };
}
