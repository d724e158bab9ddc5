// Live uploads (tus). Each upload is sealed as it arrives: the bytes of a PATCH go into the
// recording's age STREAM, complete 64 KiB chunks out to a temporary ciphertext object, and a
// sealed record of the bytes into the shared journal; the PATCH is acknowledged once the
// journal has made them durable (group commit, journal.ts). Plaintext exists only in memory.
// At the last byte the audio is validated to its end, the final chunk sealed, the object
// committed and the recording filed (filing.ts).
//
// This service holds the archive's public recipient only: it seals, it cannot open. Only
// `reopenFiled` (wired from recovery, which holds the identity) can continue a recording that
// a crash forced to be filed early.
import type { Kysely } from 'kysely';
import { beginSeal, CHUNK_SIZE, type RecordingSealer } from '../seal/index.ts';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import { outsidePartyIndex, pseudonymOfIndex, type BlindIndex } from '../catalog/blind-index.ts';
import { newId } from '../catalog/ids.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { Database, UploadRow } from '../catalog/schema.ts';
import { HttpError } from '../http/errors.ts';
import type { BlobStore, BlobWriter } from '../store/blob-store.ts';
import { AudioError, createAudioInspector, truncatedInfo, type AudioInfo, type AudioInspector } from './audio.ts';
import { fileRecording } from './filing.ts';
import { encodeRecord, encodeRecordParts, RECORD, type IngestJournal } from './journal.ts';
import type { UploadMetadata } from './metadata.ts';

export const FIELD_CALLER = 'caller';
export const FIELD_CALLEE = 'callee';
export const JOURNAL_DELTA = 'journal.delta';
export const JOURNAL_BASE = 'journal.base';

/** What a journal record's seal authenticates besides its bytes: their offset (so a record cannot be moved). */
export function journalAad(offset: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(offset), 0);
  return out;
}

/** A live upload as held in memory while it streams. */
export interface Live {
  row: UploadRow;
  length: number | null;
  offset: number;
  sealer: RecordingSealer;
  writer: BlobWriter;
  inspector: AudioInspector;
  /** Chunks handed to the writer and written (their write resolved). */
  chunksWritten: number;
  busy: boolean;
  abortBody: (() => void) | null;
  discarded: boolean;
  lastActivity: number;
  actor: Actor;
  lock: Promise<void>;
}

export interface UploadDeps {
  db: Kysely<Database>;
  recordings: RecordingRepo;
  store: BlobStore;
  audit: AuditLog;
  blindIndex: BlindIndex;
  journal: IngestJournal;
  /** This node's name when several nodes share the catalog (PostgreSQL); null on the embedded default. */
  nodeId?: string | null;
  /**
   * An upload this process does not hold: adopted from a node that is gone (true, it is then
   * filed and resumable), 423 while its node lives, false when there is none for this key.
   */
  takeOver?: (id: string, keyId: string) => Promise<boolean>;
  archiveRecipient: string;
  maxUploadBytes: number;
  idleMs: number;
  /** Journal size past which a new file starts (scaled up with the calls in flight). */
  journalRotateBytes?: number;
  /** Whether an API key is still active (revocation takes effect mid-stream). */
  keyActive: (keyId: string) => Promise<boolean>;
  /** Continues a recording filed after a crash; null if it cannot be continued. */
  reopenFiled?: (recordingId: string, keyId: string) => Promise<Live | null>;
  /** Failures in the background (rotation, clean-up after an error) that no request can report. */
  onError?: (what: string, err: unknown) => void;
  now?: () => number;
}

export interface AppendOptions {
  id: string;
  keyId: string;
  offset: number;
  /** Upload-Length sent with this PATCH (a deferred length becoming known). */
  length?: number;
  body: AsyncIterable<Buffer>;
  /** The body's size where the request declares it (Content-Length): a body that cannot fit is refused before it is read. */
  bodyBytes?: number;
  abort?: () => void;
  requestId: string;
  source: string;
}

export interface UploadService {
  readonly maxUploadBytes: number;
  create(opts: { keyId: string; length: number | null; meta: UploadMetadata; requestId: string; source: string }): Promise<string>;
  /** Offset, length (null while deferred) and expiry of an upload that belongs to `keyId`; null if none. */
  status(id: string, keyId: string): Promise<{ offset: number; length: number | null; expiresAt: number | null } | null>;
  append(opts: AppendOptions): Promise<number>;
  /** When an upload in flight expires if nothing more arrives (null when not in flight). */
  expiresAt(id: string): number | null;
  terminate(id: string, keyId: string, requestId: string, source: string): Promise<boolean>;
  /** Files idle live uploads as they stand (flagged abandoned); drops those with no usable audio. */
  sweep(): Promise<number>;
  /** Number of uploads in flight. */
  readonly active: number;
  /** Ends request bodies and stops; uploads stay in the catalog and the journal for recovery. */
  close(): Promise<void>;
  /**
   * This node lost its lease (another node adopts its calls): forgets every upload in memory at
   * once, ending their bodies, touching neither the catalog nor the store; takes no new uploads.
   */
  relinquish(): void;
  /**
   * The recording this upload continues was erased (its row and journal are gone): the call is
   * ended here at once, its body cut and its temporary object dropped; its client is told 404.
   */
  forget(id: string): void;
}

/** tus expiration: an upload idle past its time is gone (what it had is filed, flagged abandoned). */
const expiredError = () => new HttpError(410, 'this upload expired: it was idle too long, and what it had was filed as a recording flagged abandoned');
const lengthError = (max: number) => new HttpError(413, `Upload-Length exceeds the maximum of ${max} bytes`);

export function createUploadService(deps: UploadDeps): UploadService {
  const now = deps.now ?? Date.now;
  const onError = deps.onError ?? (() => undefined);
  const uploads = new Map<string, Live>();
  /** Calls set aside after a storage failure: kept up to their last acknowledged byte for recovery. */
  const aside = new Set<string>();
  const setAsideError = () => new HttpError(503, 'the blob store failed; this call is kept up to its last acknowledged byte and is filed when the server restarts (then it can go on)', { 'retry-after': '60' });
  /** Recordings erased while this process held or was reopening their continuation (recent ones). */
  const erased = new Set<string>();
  let closing = false;
  let rotating = false;
  const filingDeps = { db: deps.db, recordings: deps.recordings, store: deps.store, audit: deps.audit, now, onError };

  function locked<T>(u: Live, fn: () => Promise<T>): Promise<T> {
    const run = u.lock.then(fn);
    u.lock = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Drops an upload for good. From outside its request (sweep), its body is ended too. */
  async function discard(u: Live, reason: string, requestId: string | null, source: string | null, action: 'ingest.rejected' | 'ingest.terminated' = 'ingest.rejected'): Promise<void> {
    if (u.discarded) return;
    u.discarded = true;
    if (requestId === null) u.abortBody?.();
    uploads.delete(u.row.id);
    u.sealer.destroy();
    await u.writer.abort();
    await deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('uploads').where('id', '=', u.row.id).execute();
      await deps.audit.record({
        action, actor: u.actor, outcome: action === 'ingest.terminated' ? 'success' : 'failure', object: { type: 'upload', id: u.row.id },
        careUnit: u.row.care_unit, requestId, source, details: { reason, receivedBytes: u.offset },
      }, trx);
    });
  }

  /** Forgets a call this process can no longer go on with, keeping its row and journal for recovery. */
  function setAside(u: Live): void {
    u.discarded = true;
    uploads.delete(u.row.id);
    aside.add(u.row.id);
    u.sealer.destroy();
  }

  /** Refuses audio that does not validate: the upload is discarded and the client told why. */
  async function rejectAudio(u: Live, err: AudioError, requestId: string, source: string): Promise<never> {
    await discard(u, `invalid audio: ${err.message}`, requestId, source);
    throw new HttpError(err.status, `not supported audio: ${err.message}; the upload was discarded`);
  }

  /** Files the upload as a recording: complete (its last byte arrived), or as it stands (`expired` carries what the inspector made of it). */
  async function file(u: Live, mode: 'complete' | { expired: AudioInfo }, requestId: string | null, source: string | null): Promise<void> {
    if (u.discarded) throw new HttpError(410, 'this upload was discarded');
    const flags: string[] = mode !== 'complete' ? ['abandoned'] : (u.row.resumes_recording ? ['resumed_after_crash'] : []);
    let info: AudioInfo;
    if (mode === 'complete') {
      try {
        info = u.inspector.finish();
      } catch (err) {
        // A finished file that ends early is refused; a live call (its length was unknown at
        // creation) that ends mid-sample or mid-page is kept, as far as it is readable, and flagged.
        const readable = err instanceof AudioError && u.row.length === null ? truncatedInfo(u.inspector) : null;
        if (readable === null) throw err;
        info = readable;
        flags.push('audio_ended_early');
      }
    } else {
      info = mode.expired;
    }
    await u.writer.write(u.sealer.finish());
    await u.writer.commit();
    uploads.delete(u.row.id);
    u.discarded = true;
    try {
      await fileRecording(filingDeps, {
        upload: u.row, blobKey: u.writer.key, payloadSize: u.writer.size, plaintextSize: u.offset, info, flags,
        action: mode === 'complete' ? 'ingest.completed' : 'ingest.expired', actor: u.actor, requestId, source,
      });
    } catch (err) {
      await deps.store.delete(u.writer.key).catch((e) => onError('removing the object of a recording that could not be filed', e));
      throw err;
    } finally {
      u.sealer.destroy();
    }
  }

  /**
   * Bytes beyond the end are refused, not the call: what came before them stays (an
   * acknowledged byte is never lost for a client's mistake), and the client may go on from its
   * offset, or end a live call there with Upload-Length.
   */
  function refuseBeyondEnd(u: Live, bytes: number): void {
    const keeps = { 'upload-offset': String(u.offset) };
    if (u.length !== null && u.offset + bytes > u.length) {
      throw new HttpError(413, `the body goes beyond Upload-Length (${u.length} bytes); the upload keeps the ${u.offset} bytes before it`, keeps);
    }
    if (u.offset + bytes > deps.maxUploadBytes) {
      throw new HttpError(413, `the upload would exceed the maximum of ${deps.maxUploadBytes} bytes; it keeps the ${u.offset} bytes before this: end it with Upload-Length ${u.offset}`, keeps);
    }
  }

  /** Seals, stores and journals one piece; resolves when it is durable. Runs under the upload's lock. */
  async function applyPiece(u: Live, piece: Buffer, requestId: string, source: string): Promise<{ durable: Promise<void> }> {
    if (u.discarded) throw new HttpError(410, 'this upload was discarded');
    refuseBeyondEnd(u, piece.length);
    try {
      u.inspector.feed(piece);
    } catch (err: unknown) {
      if (!(err instanceof AudioError)) throw err;
      return rejectAudio(u, err, requestId, source);
    }
    const sealed = u.sealer.push(piece);
    try {
      if (sealed.length > 0) await u.writer.write(sealed);
    } catch (err) {
      // The sealed stream and the object may now disagree: this process never goes on from here.
      // What was acknowledged is in the journal: the call is set aside, its catalog row kept, and
      // recovery (at the next start, or another node) files it up to its last acknowledged byte.
      setAside(u);
      onError('storing a live call (set aside for recovery)', err);
      throw setAsideError();
    }
    u.chunksWritten += sealed.length;
    const record = encodeRecordParts({
      type: RECORD.delta, uploadId: u.row.id, offset: u.offset, chunks: u.chunksWritten,
      payload: u.sealer.sealField(JOURNAL_DELTA, piece, journalAad(u.offset)),
    });
    u.offset += piece.length;
    u.lastActivity = now();
    // Wrapped: a promise returned bare from an async function would be awaited here.
    const durable = deps.journal.append(record);
    durable.catch(() => undefined);
    return { durable };
  }

  /** Re-logs an upload's state in the current journal generation (after rotation). */
  async function rebase(u: Live): Promise<void> {
    await locked(u, async () => {
      if (u.discarded) return;
      await u.writer.flush(); // the chunks written so far are now durable in the object
      const { chunks, pending } = u.sealer.snapshot();
      if (chunks !== u.chunksWritten || chunks * CHUNK_SIZE + pending.length !== u.offset) throw new Error('upload state out of step with its sealer');
      await deps.journal.append(encodeRecord({
        type: RECORD.base, uploadId: u.row.id, offset: u.offset, chunks,
        payload: u.sealer.sealField(JOURNAL_BASE, pending, journalAad(u.offset)),
      }));
      pending.fill(0);
    });
  }

  async function maybeRotate(): Promise<void> {
    // A rotation re-logs every call's pending tail (32 KiB on average): rotate only once the
    // file is several times larger than that, so rotations never feed on themselves.
    if (rotating || deps.journal.size < Math.max(deps.journalRotateBytes ?? 64 << 20, uploads.size * (128 << 10))) return;
    rotating = true;
    try {
      const old = await deps.journal.rotate();
      for (const u of [...uploads.values()]) await rebase(u);
      await deps.journal.retire(old);
    } finally {
      rotating = false;
    }
  }

  async function find(id: string, keyId: string): Promise<Live | null> {
    const u = uploads.get(id);
    if (u) return u.row.key_id === keyId ? u : null;
    if (aside.has(id)) throw setAsideError();
    await deps.takeOver?.(id, keyId);
    if (!deps.reopenFiled) return null;
    const reopened = await deps.reopenFiled(id, keyId);
    if (reopened && erased.has(id)) {
      // Erased while it was being reopened: forget() found nothing to end yet.
      drop(reopened);
      return null;
    }
    if (reopened) uploads.set(id, reopened);
    return reopened;
  }

  /** Ends a continuation whose recording was erased, in memory at once; its object is queued for deletion already. */
  function drop(u: Live): void {
    u.discarded = true;
    u.abortBody?.();
    uploads.delete(u.row.id);
    u.sealer.destroy();
    void u.writer.abort().catch((e: unknown) => onError('dropping the temporary object of an erased recording (it is queued for deletion)', e));
  }

  /** A continuation on another node's erased recording: its catalog row is gone (checked at each PATCH, and every second of one). */
  async function erasedElsewhere(u: Live): Promise<boolean> {
    if (!u.row.resumes_recording) return false; // only a recording filed early can be erased while its call goes on
    const row = await deps.db.selectFrom('uploads').select('id').where('id', '=', u.row.id).executeTakeFirst();
    if (row) return false;
    drop(u); // a later resume finds the recording erased (the reopener's own check)
    return true;
  }
  const erasedError = () => new HttpError(404, 'no such upload: the recording it continued was erased');

  return {
    maxUploadBytes: deps.maxUploadBytes,
    get active() {
      return uploads.size;
    },

    async create({ keyId, length, meta, requestId, source }) {
      if (closing) throw new HttpError(503, 'the server is shutting down');
      if (length !== null && length > deps.maxUploadBytes) throw lengthError(deps.maxUploadBytes);
      const id = newId();
      const sealer = beginSeal({ recipient: deps.archiveRecipient, recordingId: id });
      const writer = await deps.store.create();
      const actor: Actor = { type: 'api_key', id: keyId, role: 'key:ingest' };
      const field = (label: string, e164: string | undefined) => (e164 ? sealer.sealField(label, Buffer.from(e164)) : null);
      const row: UploadRow = {
        id, key_id: keyId, created_at: now(), length, header: sealer.header, payload_prefix: sealer.payloadPrefix, blob_key: writer.key,
        codec: meta.audio.codec, sample_rate: meta.audio.sampleRate ?? null, channels: meta.audio.channels ?? null,
        external_call_id: meta.callId ?? null, started_at: meta.startedAt, direction: meta.direction, care_unit: meta.careUnit,
        agent_id: meta.agentId ?? null, caller_sealed: field(FIELD_CALLER, meta.caller), callee_sealed: field(FIELD_CALLEE, meta.callee),
        caller_index: meta.caller ? deps.blindIndex.phone(meta.caller) : null, callee_index: meta.callee ? deps.blindIndex.phone(meta.callee) : null,
        resumes_recording: 0, node_id: deps.nodeId ?? null,
        patient_index: meta.patientId ? deps.blindIndex.personnummerIndex(meta.patientId) : null,
      };
      try {
        await writer.write(sealer.payloadPrefix);
        await deps.db.transaction().execute(async (trx) => {
          await trx.insertInto('uploads').values(row).execute();
          await deps.audit.record({
            action: 'ingest.started', actor, outcome: 'success', object: { type: 'upload', id }, careUnit: meta.careUnit,
            patientPseudonym: pseudonymOfIndex(outsidePartyIndex(row)), requestId, source,
            details: { length, codec: meta.audio.codec },
          }, trx);
        });
      } catch (err) {
        sealer.destroy();
        await writer.abort();
        throw err;
      }
      uploads.set(id, {
        row, length, offset: 0, sealer, writer, inspector: createAudioInspector(meta.audio), chunksWritten: 0,
        busy: false, abortBody: null, discarded: false, lastActivity: now(), actor, lock: Promise.resolve(),
      });
      return id;
    },

    async status(id, keyId) {
      const u = uploads.get(id);
      if (u) {
        if (u.row.key_id !== keyId) return null;
        // Report only what is durable: the bytes applied so far, once the journal holds them
        // (pieces applied while it syncs are not durable yet).
        const offset = u.offset;
        await deps.journal.sync();
        return { offset, length: u.length, expiresAt: u.lastActivity + deps.idleMs };
      }
      if (aside.has(id)) throw setAsideError();
      await deps.takeOver?.(id, keyId);
      const done = await deps.recordings.get(id);
      if (!done || done.ingest_key_id !== keyId) return null;
      const flags = JSON.parse(done.flags) as string[];
      if (flags.includes('abandoned')) throw expiredError();
      // Filed early by a crash or shutdown: the client may go on from where it stands, to the
      // length it declared (if it did).
      const resumable = deps.reopenFiled !== undefined && (flags.includes('truncated_by_crash') || flags.includes('interrupted_by_shutdown'));
      return { offset: done.plaintext_size, length: resumable ? (done.upload_length ?? null) : done.plaintext_size, expiresAt: null };
    },

    async append({ id, keyId, offset, length, body, bodyBytes, abort, requestId, source }) {
      if (closing) throw new HttpError(503, 'the server is shutting down; resume after it restarts');
      const u = await find(id, keyId);
      if (!u) {
        const done = await deps.recordings.get(id);
        if (done && done.ingest_key_id === keyId) {
          if ((JSON.parse(done.flags) as string[]).includes('abandoned')) throw expiredError();
          throw new HttpError(409, 'this upload is already complete', { 'upload-offset': String(done.plaintext_size) });
        }
        throw new HttpError(404, 'no such upload');
      }
      if (u.busy) throw new HttpError(409, 'another request is appending to this upload', { 'upload-offset': String(u.offset) });
      if (await erasedElsewhere(u)) throw erasedError();
      if (offset !== u.offset) throw new HttpError(409, `Upload-Offset ${offset} does not match the upload's offset ${u.offset}`, { 'upload-offset': String(u.offset) });
      if (length !== undefined) {
        if (u.length !== null && u.length !== length) throw new HttpError(400, `Upload-Length ${length} differs from the length given before (${u.length})`);
        if (length < u.offset) throw new HttpError(400, `Upload-Length ${length} is less than the ${u.offset} bytes already received`);
        if (length > deps.maxUploadBytes) throw lengthError(deps.maxUploadBytes);
        u.length = length;
      }
      if (bodyBytes !== undefined) refuseBeyondEnd(u, bodyBytes);
      u.busy = true;
      u.abortBody = abort ?? null;
      let durable: Promise<void> = Promise.resolve();
      let lastKeyCheck = now();
      try {
        for await (const piece of body) {
          if (piece.length === 0) continue;
          if (now() - lastKeyCheck > 1000) {
            lastKeyCheck = now();
            if (!(await deps.keyActive(keyId))) throw new HttpError(401, 'the API key was revoked');
            if (await erasedElsewhere(u)) throw erasedError();
          }
          try {
            durable = (await locked(u, () => applyPiece(u, piece, requestId, source))).durable;
          } catch (err) {
            // A refusal mid-body: the pieces applied before it are made durable before it is answered.
            await durable.catch(() => undefined);
            throw err;
          }
          if (deps.journal.backlog > 16 << 20) await durable; // backpressure: do not outrun the disk
        }
        await durable;
        // A failed rotation leaves the old files in place: nothing is lost, but it is reported.
        void maybeRotate().catch((e) => onError('rotating the ingest journal', e));
        if (u.length !== null && u.offset === u.length) {
          await locked(u, async () => {
            try {
              await file(u, 'complete', requestId, source);
            } catch (err: unknown) {
              if (!(err instanceof AudioError)) throw err;
              await rejectAudio(u, err, requestId, source);
            }
          });
        }
        return u.offset;
      } finally {
        u.busy = false;
        u.abortBody = null;
      }
    },

    expiresAt(id) {
      const u = uploads.get(id);
      return u ? u.lastActivity + deps.idleMs : null;
    },

    async terminate(id, keyId, requestId, source) {
      const u = uploads.get(id);
      if (!u || u.row.key_id !== keyId) return false;
      u.abortBody?.();
      await locked(u, () => discard(u, 'terminated by the client', requestId, source, 'ingest.terminated'));
      return true;
    },

    async sweep() {
      const limit = now() - deps.idleMs;
      const idle = [...uploads.values()].filter((u) => u.lastActivity < limit);
      for (const u of idle) {
        u.abortBody?.();
        await locked(u, async () => {
          if (u.discarded) return;
          const info = u.offset > 0 ? truncatedInfo(u.inspector) : null;
          if (info !== null) await file(u, { expired: info }, null, null);
          else await discard(u, u.busy ? 'abandoned: stalled mid-request' : 'abandoned: idle too long, no usable audio', null, null);
        });
      }
      return idle.length;
    },

    relinquish() {
      closing = true;
      for (const u of uploads.values()) {
        u.discarded = true;
        u.abortBody?.();
        u.sealer.destroy();
      }
      uploads.clear();
    },

    forget(id) {
      erased.add(id);
      if (erased.size > 10_000) erased.delete(erased.values().next().value!);
      const u = uploads.get(id);
      if (u && !u.discarded) drop(u);
    },

    async close() {
      closing = true;
      for (const u of uploads.values()) u.abortBody?.();
      await deps.journal.sync().catch(() => undefined);
    },
  };
}

