// Uploads of finished recordings (tus core + creation). Each upload is sealed as it arrives:
// the bytes of a PATCH go straight into the recording's age STREAM and out to a temporary
// ciphertext object; plaintext exists only in memory. When the last byte has arrived the WAV is
// validated to the end, the final chunk sealed, the object committed (fsync + rename) and only
// then the catalog row written, with its audit event, in one transaction. A crash at any point
// leaves no row pointing at an incomplete object; the orphaned temporary is removed at start.
//
// This service holds the archive's public recipient only: it can seal, it cannot open.
import type { Kysely } from 'kysely';
import { beginSeal, type RecordingSealer } from '../seal/index.ts';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import type { BlindIndex } from '../catalog/blind-index.ts';
import { newId } from '../catalog/ids.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { Database } from '../catalog/schema.ts';
import { HttpError } from '../http/errors.ts';
import type { BlobStore, BlobWriter } from '../store/blob-store.ts';
import type { UploadMetadata } from './metadata.ts';
import { WavError, WavInspector } from './wav.ts';

export const FIELD_CALLER = 'caller';
export const FIELD_CALLEE = 'callee';

interface Upload {
  id: string;
  keyId: string;
  length: number;
  offset: number;
  meta: UploadMetadata;
  sealer: RecordingSealer;
  writer: BlobWriter;
  wav: WavInspector;
  busy: boolean;
  /** Ends the request body being read, if any (a stalled or shut-down append). */
  abortBody: (() => void) | null;
  discarded: boolean;
  lastActivity: number;
  actor: Actor;
}

export interface UploadDeps {
  db: Kysely<Database>;
  recordings: RecordingRepo;
  store: BlobStore;
  audit: AuditLog;
  blindIndex: BlindIndex;
  archiveRecipient: string;
  maxUploadBytes: number;
  idleMs: number;
  now?: () => number;
}

export interface UploadService {
  readonly maxUploadBytes: number;
  create(opts: { keyId: string; length: number; meta: UploadMetadata; requestId: string; source: string }): Promise<string>;
  /** Offset and length of an upload that belongs to `keyId`; null if there is none. */
  status(id: string, keyId: string): Promise<{ offset: number; length: number } | null>;
  append(opts: { id: string; keyId: string; offset: number; body: AsyncIterable<Buffer>; abort?: () => void; requestId: string; source: string }): Promise<number>;
  /** Drops uploads idle for longer than the configured time, ending a stalled request first. */
  sweep(): Promise<number>;
  /** Aborts every upload in flight (shutdown). */
  close(): Promise<void>;
}

export function createUploadService(deps: UploadDeps): UploadService {
  const now = deps.now ?? Date.now;
  const uploads = new Map<string, Upload>();

  /** Drops an upload for good. From outside its request (sweep, shutdown), its body is ended too. */
  async function discard(u: Upload, reason: string, requestId: string | null, source: string | null): Promise<void> {
    if (u.discarded) return;
    u.discarded = true;
    if (requestId === null) u.abortBody?.();
    uploads.delete(u.id);
    u.sealer.destroy();
    await u.writer.abort();
    await deps.audit.record({
      action: 'ingest.rejected', actor: u.actor, outcome: 'failure', object: { type: 'upload', id: u.id },
      careUnit: u.meta.careUnit, requestId, source, details: { reason, receivedBytes: u.offset },
    });
  }

  async function finalize(u: Upload, requestId: string, source: string): Promise<void> {
    const info = u.wav.finish();
    await u.writer.write(u.sealer.finish());
    await u.writer.commit();
    const { meta } = u;
    const field = (label: string, e164: string | undefined) => (e164 ? u.sealer.sealField(label, Buffer.from(e164)) : null);
    try {
      await deps.db.transaction().execute(async (trx) => {
        await deps.recordings.insert({
          id: u.id,
          external_call_id: meta.callId ?? null,
          started_at: meta.startedAt,
          duration_ms: info.durationMs,
          direction: meta.direction,
          care_unit: meta.careUnit,
          agent_id: meta.agentId ?? null,
          codec: info.codec,
          sample_rate: info.sampleRate,
          channels: info.channels,
          caller_sealed: field(FIELD_CALLER, meta.caller),
          callee_sealed: field(FIELD_CALLEE, meta.callee),
          caller_index: meta.caller ? deps.blindIndex.phone(meta.caller) : null,
          callee_index: meta.callee ? deps.blindIndex.phone(meta.callee) : null,
          header: u.sealer.header,
          blob_key: u.writer.key,
          payload_size: u.writer.size,
          plaintext_size: u.length,
          flags: '[]',
          ingest_key_id: u.keyId,
          created_at: now(),
        }, trx);
        await deps.audit.record({
          action: 'ingest.completed', actor: u.actor, outcome: 'success', object: { type: 'recording', id: u.id },
          careUnit: meta.careUnit, patientPseudonym: meta.caller ? deps.blindIndex.pseudonym(meta.caller) : null,
          requestId, source, details: { bytes: u.length, durationMs: info.durationMs, codec: info.codec, channels: info.channels },
        }, trx);
      });
    } catch (err) {
      await deps.store.delete(u.writer.key).catch(() => undefined);
      throw err;
    } finally {
      u.sealer.destroy();
      uploads.delete(u.id);
    }
  }

  return {
    maxUploadBytes: deps.maxUploadBytes,

    async create({ keyId, length, meta, requestId, source }) {
      if (length > deps.maxUploadBytes) {
        throw new HttpError(413, `Upload-Length exceeds the maximum of ${deps.maxUploadBytes} bytes`);
      }
      const id = newId();
      const sealer = beginSeal({ recipient: deps.archiveRecipient, recordingId: id });
      const writer = await deps.store.create();
      const actor: Actor = { type: 'api_key', id: keyId, role: 'key:ingest' };
      try {
        await writer.write(sealer.payloadPrefix);
        await deps.audit.record({
          action: 'ingest.started', actor, outcome: 'success', object: { type: 'upload', id }, careUnit: meta.careUnit,
          patientPseudonym: meta.caller ? deps.blindIndex.pseudonym(meta.caller) : null, requestId, source, details: { length },
        });
      } catch (err) {
        sealer.destroy();
        await writer.abort();
        throw err;
      }
      uploads.set(id, { id, keyId, length, offset: 0, meta, sealer, writer, wav: new WavInspector(), busy: false, abortBody: null, discarded: false, lastActivity: now(), actor });
      return id;
    },

    async status(id, keyId) {
      const u = uploads.get(id);
      if (u) return u.keyId === keyId ? { offset: u.offset, length: u.length } : null;
      const done = await deps.recordings.get(id);
      if (done && done.ingest_key_id === keyId) return { offset: done.plaintext_size, length: done.plaintext_size };
      return null;
    },

    async append({ id, keyId, offset, body, abort, requestId, source }) {
      const u = uploads.get(id);
      if (!u || u.keyId !== keyId) {
        const done = await this.status(id, keyId);
        if (done) throw new HttpError(409, 'this upload is already complete', { 'upload-offset': String(done.offset) });
        throw new HttpError(404, 'no such upload');
      }
      if (u.busy) throw new HttpError(409, 'another request is appending to this upload', { 'upload-offset': String(u.offset) });
      if (offset !== u.offset) throw new HttpError(409, `Upload-Offset ${offset} does not match the upload's offset ${u.offset}`, { 'upload-offset': String(u.offset) });
      u.busy = true;
      u.abortBody = abort ?? null;
      try {
        for await (const piece of body) {
          if (u.discarded) throw new HttpError(410, 'this upload was discarded');
          if (u.offset + piece.length > u.length) {
            await discard(u, 'more bytes than Upload-Length', requestId, source);
            throw new HttpError(413, 'the body goes beyond Upload-Length; the upload was discarded');
          }
          try {
            u.wav.feed(piece);
          } catch (err) {
            if (!(err instanceof WavError)) throw err;
            await discard(u, `invalid audio: ${err.message}`, requestId, source);
            throw new HttpError(err.status, `not a supported WAV file: ${err.message}; the upload was discarded`);
          }
          try {
            const sealed = u.sealer.push(piece);
            if (sealed.length > 0) await u.writer.write(sealed);
          } catch (err) {
            // The sealed stream and the object may now disagree: never resume from here.
            await discard(u, 'storage failure', requestId, source).catch(() => undefined);
            throw err;
          }
          u.offset += piece.length;
          u.lastActivity = now();
        }
        if (u.offset === u.length) {
          try {
            await finalize(u, requestId, source);
          } catch (err) {
            if (!(err instanceof WavError)) throw err;
            await discard(u, `invalid audio: ${err.message}`, requestId, source);
            throw new HttpError(err.status, `not a supported WAV file: ${err.message}; the upload was discarded`);
          }
        }
        return u.offset;
      } finally {
        u.busy = false;
        u.abortBody = null;
      }
    },

    async sweep() {
      const limit = now() - deps.idleMs;
      const idle = [...uploads.values()].filter((u) => u.lastActivity < limit);
      for (const u of idle) await discard(u, u.busy ? 'abandoned: stalled mid-request' : 'abandoned: idle too long', null, null);
      return idle.length;
    },

    async close() {
      for (const u of [...uploads.values()]) await discard(u, 'server shut down before the upload finished', null, null);
    },
  };
}
