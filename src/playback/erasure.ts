// Erasure and legal hold, for privacy officers. Erasure is cryptographic first: in one
// transaction the recording's age header (its wrapped file key), its sealed numbers and their
// blind indexes are removed and the erasure is audited; from that commit on, every copy of the
// payload (the blob, a backup, a replica) is noise. The blob is then deleted as well. A
// tombstone row stays (id, unit, times) so the audit log's references still resolve.
// A recording under legal hold cannot be erased until the hold is released.
import type { Kysely } from 'kysely';
import { actorOf, type Principal } from '../access/policy.ts';
import type { AuditLog } from '../audit/log.ts';
import { outsidePartyIndex, pseudonymOfIndex } from '../catalog/blind-index.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { Database } from '../catalog/schema.ts';
import { HttpError } from '../http/errors.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { createRecordingAccess, type RequestInfo } from './access.ts';

export const ERASURE_BASES = ['data_subject_request', 'retention', 'unlawful_recording', 'other'] as const;
export type ErasureBasis = (typeof ERASURE_BASES)[number];

export function createErasure(deps: {
  db: Kysely<Database>;
  recordings: RecordingRepo;
  store: BlobStore;
  audit: AuditLog;
  grantedIds: (userId: string, ids: readonly string[]) => Promise<Set<string>>;
  grantOf: (userId: string, recordingId: string) => Promise<string | null>;
  now?: () => number;
  onError?: (what: string, err: unknown) => void;
}) {
  const { db, audit } = deps;
  const now = deps.now ?? Date.now;
  const { findPermitted, requireStepUp } = createRecordingAccess(deps);

  return {
    async setLegalHold(p: Principal, id: string, hold: boolean, info: RequestInfo): Promise<{ id: string; legalHold: boolean }> {
      const r = await findPermitted(p, 'recordings:legal_hold', id, info);
      if (!hold) await requireStepUp(p, r, 'recordings:legal_hold', info); // releasing a hold opens the way to erasure
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('recordings').set({ legal_hold: hold ? 1 : 0 }).where('id', '=', id).execute();
        await audit.record({ action: 'recording.legal_hold', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
          patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: { hold, before: r.legal_hold === 1 } }, trx);
      });
      return { id, legalHold: hold };
    },

    async erase(p: Principal, id: string, basis: ErasureBasis, info: RequestInfo): Promise<{ id: string; erasedAt: string }> {
      const r = await findPermitted(p, 'recordings:delete', id, info);
      await requireStepUp(p, r, 'recordings:delete', info);
      if (r.legal_hold === 1) throw new HttpError(409, 'this recording is under legal hold; release the hold first');
      const t = now();
      await db.transaction().execute(async (trx) => {
        const done = await trx.updateTable('recordings').set({
          erased_at: t, header: new Uint8Array(0), caller_sealed: null, callee_sealed: null, caller_index: null, callee_index: null, external_call_id: null,
        }).where('id', '=', id).where('erased_at', 'is', null).where('legal_hold', '=', 0).executeTakeFirst();
        if (Number(done.numUpdatedRows) !== 1) throw new HttpError(409, 'this recording was just erased or put under legal hold');
        await audit.record({ action: 'recording.erased', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
          patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: { basis } }, trx);
      });
      // The key is gone with the commit above; the ciphertext goes too. Should that fail, what
      // is left is unreadable noise, and the failure is logged for an operator to clear.
      await deps.store.delete(r.blob_key).catch((err: unknown) => deps.onError?.('erased recording blob delete', err));
      return { id, erasedAt: new Date(t).toISOString() };
    },
  };
}

export type Erasure = ReturnType<typeof createErasure>;
