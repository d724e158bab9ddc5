// The bytes of an audit entry that the Merkle log hashes: every column but the sequence number
// (an entry's place in the log is its position in the tree), in a fixed order, as JSON.
import { leafHash } from './merkle.ts';

export interface EntryColumns {
  at: number;
  actor_type: string;
  actor_id: string | null;
  action: string;
  object_type: string | null;
  object_id: string | null;
  care_unit: string | null;
  patient_pseudonym: string | null;
  outcome: string;
  request_id: string | null;
  source: string | null;
  details: string | null;
}

export function entryBytes(e: EntryColumns): Buffer {
  return Buffer.from(JSON.stringify(['callvault.audit.v1', e.at, e.actor_type, e.actor_id, e.action, e.object_type, e.object_id,
    e.care_unit, e.patient_pseudonym, e.outcome, e.request_id, e.source, e.details]));
}

export function entryLeafHash(e: EntryColumns): Buffer {
  return leafHash(entryBytes(e));
}
