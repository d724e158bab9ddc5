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
