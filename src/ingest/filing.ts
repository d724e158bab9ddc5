// Filing: the moment an upload becomes a recording. The sealed object is committed first
// (durable, under its random name), then the catalog row, the removal of the upload's row and
// the audit event are written in one transaction. A crash in between leaves an orphaned
// object, never a row pointing at an incomplete one.
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import type { Actor, AuditAction } from '../audit/events.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { Database, UploadRow } from '../catalog/schema.ts';
import { outsidePartyIndex, pseudonymOfIndex } from '../catalog/blind-index.ts';
import { HttpError } from '../http/errors.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { AudioInfo } from './audio.ts';

/**
 * The recording a call continued (after a crash) was erased while the call went on: nothing of
 * it is filed. The caller deletes the object it wrote; the upload's row is gone.
 */
export class ErasedMeanwhileError extends HttpError {
  constructor() {
    super(410, 'the recording this call continues was erased; nothing more of it is kept');
    this.audited = true;
  }
}

export interface Filing {
  upload: UploadRow;
  blobKey: string;
  payloadSize: number;
  plaintextSize: number;
  info: AudioInfo | null; // null: the audio never became readable
  flags: string[];
  action: AuditAction;
  actor: Actor;
  requestId: string | null;
  source: string | null;
  details?: Record<string, unknown>;
}

export async function fileRecording(deps: {
  db: Kysely<Database>; recordings: RecordingRepo; store: BlobStore; audit: AuditLog; now: () => number;
  /** Told when the object a filing replaced could not be deleted now (it stays queued; the purge retries and logs). */
  onError: (what: string, err: unknown) => void;
}, f: Filing): Promise<void> {
  const u = f.upload;
  const flags = [...new Set(f.info ? f.flags : [...f.flags, 'audio_unreadable'])].sort();
  const audio = {
    duration_ms: f.info?.durationMs ?? 0,
    codec: f.info?.codec ?? u.codec,
    container: f.info?.container ?? (u.codec === 'wav' ? 'wav' : u.codec === 'ogg-opus' ? 'ogg' : 'raw'),
    sample_rate: f.info?.sampleRate ?? u.sample_rate ?? 0,
    channels: f.info?.channels ?? u.channels ?? 1,
  };
  let replacedBlob: string | null = null;
  let erased = false;
  await deps.db.transaction().execute(async (trx) => {
    const existing = u.resumes_recording ? await trx.selectFrom('recordings').select(['blob_key', 'erased_at']).where('id', '=', u.id).executeTakeFirst() : undefined;
    if (existing && existing.erased_at !== null) {
      // Erased while its call went on (on another node, or before a crash): the tombstone stays
      // a tombstone, and what the call brought since is refused.
      erased = true;
      await trx.deleteFrom('uploads').where('id', '=', u.id).execute();
      await deps.audit.record({
        action: 'ingest.rejected', actor: f.actor, outcome: 'failure', object: { type: 'recording', id: u.id }, careUnit: u.care_unit,
        requestId: f.requestId, source: f.source, details: { reason: 'the recording was erased while its call went on', bytes: f.plaintextSize },
      }, trx);
      return;
    }
    if (existing) {
      replacedBlob = existing.blob_key;
      // The object filed before the crash is replaced: queued, so a failed delete is retried (jobs/purge.ts).
      await trx.insertInto('pending_deletions').values({ blob_key: existing.blob_key, recording_id: u.id, queued_at: deps.now() })
        .onConflict((oc) => oc.column('blob_key').doNothing()).execute();
      await trx.updateTable('recordings').set({
        ...audio, blob_key: f.blobKey, payload_size: f.payloadSize, plaintext_size: f.plaintextSize, flags: JSON.stringify(flags), upload_length: u.length,
      }).where('id', '=', u.id).execute();
    } else {
      await deps.recordings.insert({
        id: u.id, external_call_id: u.external_call_id, started_at: u.started_at, direction: u.direction, care_unit: u.care_unit,
        agent_id: u.agent_id, ...audio, caller_sealed: u.caller_sealed, callee_sealed: u.callee_sealed, caller_index: u.caller_index,
        callee_index: u.callee_index, patient_index: u.patient_index, header: u.header, blob_key: f.blobKey, payload_size: f.payloadSize, plaintext_size: f.plaintextSize,
        flags: JSON.stringify(flags), ingest_key_id: u.key_id, created_at: deps.now(), upload_length: u.length,
      }, trx);
    }
    await trx.deleteFrom('uploads').where('id', '=', u.id).execute();
    await deps.audit.record({
      action: f.action, actor: f.actor, outcome: 'success', object: { type: 'recording', id: u.id }, careUnit: u.care_unit,
      patientPseudonym: pseudonymOfIndex(outsidePartyIndex(u)), requestId: f.requestId, source: f.source,
      details: { bytes: f.plaintextSize, durationMs: audio.duration_ms, codec: audio.codec, channels: audio.channels, flags, ...f.details },
    }, trx);
  });
  if (erased) throw new ErasedMeanwhileError();
  if (replacedBlob) {
    const key: string = replacedBlob;
    // Filed: a store that fails here leaves the old object queued for the purge, not the call unanswered.
    await deps.store.delete(key).then(() => deps.db.deleteFrom('pending_deletions').where('blob_key', '=', key).execute())
      .catch((err: unknown) => deps.onError('deleting the object a resumed call replaced (it stays queued and is retried)', err));
  }
}
