// Erasure and legal hold, for privacy officers (and for retention, jobs/retention.ts).
// Erasure is cryptographic first: in one transaction the recording's age header (its wrapped
// file key), its sealed numbers, every blind index (caller, callee, patient) and what people
// wrote about the call (break-glass reasons and review notes) are removed,
// a live continuation of the call (an upload resumed after a crash, holding copies of them) is
// dropped with its journal, its objects are queued for deletion, and the erasure is audited.
// From that commit on, every copy of the payload (the blob, a backup, a replica) is noise. The
// objects are then deleted (jobs/purge.ts): at once when the store answers, or by the
// background runs, which retry until they are gone. A tombstone row stays (id, unit, times) so
// the audit log's references still resolve.
// A recording under legal hold cannot be erased until the hold is released.
import type { Kysely, Transaction } from 'kysely';
import { actorOf, type Principal } from '../access/policy.ts';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import { outsidePartyIndex, pseudonymOfIndex } from '../catalog/blind-index.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { Database, Recording } from '../catalog/schema.ts';
import { HttpError } from '../http/errors.ts';
import type { Purge } from '../jobs/purge.ts';
import { createRecordingAccess, type RequestInfo } from './access.ts';

export const ERASURE_BASES = ['data_subject_request', 'retention', 'unlawful_recording', 'other'] as const;
export type ErasureBasis = (typeof ERASURE_BASES)[number];

/** How long an erasure request waits for the store to delete the objects before answering (they stay queued). */
const ERASE_WAIT_MS = 5_000;

/** Everything of a recording an erasure destroys: its key, its numbers and the indexes that could find them. */
const ERASED_COLUMNS = {
  header: new Uint8Array(0), caller_sealed: null, callee_sealed: null, caller_index: null, callee_index: null, patient_index: null, external_call_id: null,
} as const;

/** What stands in for free text about an erased call. */
const ERASED_TEXT = '(erased with the recording)';

export interface Erasing {
  actor: Actor;
  basis: ErasureBasis;
  at: number;
  requestId?: string | null;
  source?: string | null;
  details?: Record<string, unknown>;
}

type Erasable = Pick<Recording, 'id' | 'care_unit' | 'caller_index' | 'callee_index' | 'direction' | 'patient_index'>;

/**
 * Erases recordings inside `trx` (the caller's transaction): key, numbers and indexes, what
 * people wrote about the call, the live continuation of a call if there is one (its upload row,
 * a copy of the key, and its journal), their objects queued for deletion, and one audit event
 * each. A recording already erased or under legal hold is left as it is. Returns, per
 * recording erased, the objects queued. A few statements for the whole batch: retention erases
 * by the hundred.
 */
export async function eraseManyInCatalog<R extends Erasable>(trx: Transaction<Database>, audit: AuditLog, rs: readonly R[], how: Erasing & { detailsOf?: (r: R) => Record<string, unknown> }): Promise<Map<string, string[]>> {
  const done = new Map<string, string[]>();
  if (rs.length === 0) return done;
  const ids = rs.map((r) => r.id);
  const { at } = how;
  const erased = await trx.updateTable('recordings').set({ ...ERASED_COLUMNS, erased_at: at })
    .where('id', 'in', ids).where('erased_at', 'is', null).where('legal_hold', '=', 0).returning(['id', 'blob_key']).execute();
  if (erased.length === 0) return done;
  const erasedIds = erased.map((e) => e.id);
  for (const e of erased) done.set(e.id, [e.blob_key]);
  const live = await trx.selectFrom('uploads').select(['id', 'blob_key']).where('id', 'in', erasedIds).execute();
  if (live.length > 0) {
    const liveIds = live.map((l) => l.id);
    await trx.deleteFrom('uploads').where('id', 'in', liveIds).execute();
    await trx.deleteFrom('ingest_journal').where('upload_id', 'in', liveIds).execute();
    for (const l of live) if (!done.get(l.id)!.includes(l.blob_key)) done.get(l.id)!.push(l.blob_key);
  }
  // What people wrote about the call (a break-glass reason, a reviewer's note) may name the
  // patient: it goes with the call. The grant and its review stay, as the audit log refers to them.
  await trx.updateTable('break_glass').set({ reason: ERASED_TEXT }).where('recording_id', 'in', erasedIds).execute();
  await trx.updateTable('break_glass').set({ review_note: ERASED_TEXT }).where('recording_id', 'in', erasedIds).where('review_note', 'is not', null).execute();
  await trx.insertInto('pending_deletions').values([...done].flatMap(([id, keys]) => keys.map((k) => ({ blob_key: k, recording_id: id, queued_at: at }))))
    .onConflict((oc) => oc.column('blob_key').doNothing()).execute();
  const liveIds = new Set(live.map((l) => l.id));
  await audit.recordMany(rs.filter((r) => done.has(r.id)).map((r) => ({
    action: 'recording.erased', actor: how.actor, outcome: 'success', object: { type: 'recording', id: r.id }, careUnit: r.care_unit,
    patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), requestId: how.requestId ?? null, source: how.source ?? null,
    details: { basis: how.basis, ...(liveIds.has(r.id) ? { liveCallEnded: true } : {}), ...how.details, ...how.detailsOf?.(r) },
  } as const)), trx);
  return done;
}

/** Erases one recording inside `trx` (eraseManyInCatalog): the objects queued, or null when it is already erased or under legal hold. */
export async function eraseInCatalog(trx: Transaction<Database>, audit: AuditLog, r: Erasable, how: Erasing): Promise<string[] | null> {
  return (await eraseManyInCatalog(trx, audit, [r], how)).get(r.id) ?? null;
}

export function createErasure(deps: {
  db: Kysely<Database>;
  recordings: RecordingRepo;
  purge: Purge;
  audit: AuditLog;
  grantedIds: (userId: string, ids: readonly string[]) => Promise<Set<string>>;
  grantOf: (userId: string, recordingId: string) => Promise<string | null>;
  /** The recording's call, if it goes on in this process (resumed after a crash), is ended at once. */
  onErased?: (id: string) => void;
  onError?: (what: string, err: unknown) => void;
  now?: () => number;
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

    /** `audioDeleted` false: the key is gone, the objects are queued and deleted once the store answers. */
    async erase(p: Principal, id: string, basis: ErasureBasis, info: RequestInfo): Promise<{ id: string; erasedAt: string; audioDeleted: boolean }> {
      const r = await findPermitted(p, 'recordings:delete', id, info);
      await requireStepUp(p, r, 'recordings:delete', info);
      if (r.legal_hold === 1) throw new HttpError(409, 'this recording is under legal hold; release the hold first');
      const t = now();
      const keys = await db.transaction().execute((trx) => eraseInCatalog(trx, audit, r, { actor: actorOf(p), basis, at: t, ...info }));
      if (keys === null) throw new HttpError(409, 'this recording was just erased or put under legal hold');
      try {
        deps.onErased?.(id);
      } catch (err) {
        deps.onError?.('ending the call of an erased recording', err); // the erasure itself is committed
      }
      // The key is gone with the commit above; the ciphertext goes too, now or, should the store
      // fail, by the purge job's retries. Until then what is left is unreadable noise.
      const audioDeleted = await deps.purge.settle(keys, ERASE_WAIT_MS);
      return { id, erasedAt: new Date(t).toISOString(), audioDeleted };
    },
  };
}

export type Erasure = ReturnType<typeof createErasure>;
