// The bytes of an audit entry that the Merkle log hashes: every column but the sequence number
// (an entry's place in the log is its position in the tree), in a fixed order, as JSON.
import type { Insertable, Selectable } from 'kysely';
import type { AuditEventTable } from '../catalog/schema.ts';
import { leafHash } from './merkle.ts';

/** The columns of an audit entry that are hashed: all but the sequence number and the hash itself. */
export type EntryColumns = Omit<Selectable<AuditEventTable>, 'seq' | 'leaf_hash'> | Omit<Insertable<AuditEventTable>, 'seq' | 'leaf_hash'>;

export function entryBytes(e: EntryColumns): Buffer {
  return Buffer.from(JSON.stringify(['callvault.audit.v1', e.at, e.actor_type, e.actor_id, e.action, e.object_type, e.object_id,
    e.care_unit, e.patient_pseudonym, e.outcome, e.request_id, e.source, e.details]));
}

export function entryLeafHash(e: EntryColumns): Buffer {
  return leafHash(entryBytes(e));
}

/** The log's sequence numbers have a gap where they should run on (or an entry lacks its hash): positions are not seq - 1. */
export class GapError extends Error {}

/**
 * The entries at leaf positions [lo, hi), which must be seq lo+1..hi without a gap, a page at a
 * time: `page(after, limit)` reads up to `limit` entries with seq > after (and <= hi) in order.
 * A gap, or an entry out of place, throws GapError.
 */
export async function* contiguousPages<R extends { seq: number }>(lo: number, hi: number, page: (after: number, limit: number) => Promise<R[]>, limit = 16_384): AsyncGenerator<R[]> {
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
