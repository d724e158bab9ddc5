// Finding and playing recordings. Every answer is audited before it leaves: list, metadata
// view, and each played byte range. Decryption needs the archive identity, which only this
// service (and export) receives.
import { openRecording, rewrapRecordingHeader, SealError, type OpenedRecording } from '../seal/index.ts';
import { actorOf, permittedRecordings, recordingScope, type Principal, type RecordingAction } from '../access/policy.ts';
import { createRecordingAccess, emergencyAccess, type RequestInfo } from './access.ts';
import { sha256Hex } from '../lib/hash.ts';
import type { TimelineEvent } from '../audit/timeline.ts';
import { computePeaks, isPeakCodec, wavDataOffset } from './waveform.ts';
import type { AuditLog } from '../audit/log.ts';
import { outsidePartyIndex, pseudonymOfIndex, type BlindIndex } from '../catalog/blind-index.ts';
import { toE164 } from '../catalog/phone.ts';
import { CursorError, type ListFilter, type RecordingFlag, type RecordingRepo } from '../catalog/recordings.ts';
import type { Recording } from '../catalog/schema.ts';
import { HttpError } from '../http/errors.ts';
import { parseIsoInstant } from '../lib/iso-time.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { FIELD_CALLEE, FIELD_CALLER } from '../ingest/uploads.ts';
import { wavHeader, type WavCodec } from '../ingest/wav.ts';

export type { RequestInfo } from './access.ts';

export interface RecordingSummary {
  id: string;
  callId: string | null;
  startedAt: string;
  durationMs: number;
  direction: string;
  careUnit: string;
  agentId: string | null;
  codec: string;
  container: string;
  sampleRate: number;
  channels: number;
  sizeBytes: number;
  flags: string[];
  hasCaller: boolean;
  legalHold: boolean;
}

export interface RecordingDetail extends RecordingSummary {
  caller: string | null;
  callee: string | null;
  /** What the asker may do with this recording (the policy's answer), for clients to offer only that. */
  allowed: RecordingAction[];
}

export interface AudioStream {
  size: number;
  start: number;
  end: number;
  contentType: string;
  body: AsyncGenerator<Buffer>;
}

function summary(r: Recording): RecordingSummary {
  return {
    id: r.id, callId: r.external_call_id, startedAt: new Date(r.started_at).toISOString(), durationMs: r.duration_ms,
    direction: r.direction, careUnit: r.care_unit, agentId: r.agent_id, codec: r.codec, container: r.container, sampleRate: r.sample_rate,
    channels: r.channels, sizeBytes: r.plaintext_size, flags: JSON.parse(r.flags) as string[], hasCaller: r.caller_index !== null, legalHold: r.legal_hold === 1,
  };
}

const CONTENT_TYPES: Record<string, string> = { wav: 'audio/wav', raw: 'audio/wav', ogg: 'audio/ogg' };

export interface PlaybackDeps {
  recordings: RecordingRepo;
  store: BlobStore;
  audit: AuditLog;
  blindIndex: BlindIndex;
  archiveIdentity: () => string;
  /** Ids among `ids` the user holds a live break-glass grant for. */
  grantedIds: (userId: string, ids: readonly string[]) => Promise<Set<string>>;
  /** The id of the user's live break-glass grant for one recording, if any (its uses are marked emergency access). */
  grantOf: (userId: string, recordingId: string) => Promise<string | null>;
  /** The audit log's entries about one recording, newest first. */
  auditEvents: (recordingId: string) => Promise<TimelineEvent[]>;
  now?: () => number;
}

export interface ListQuery {
  limit: number;
  cursor?: string;
  careUnit?: string;
  from?: string;
  to?: string;
  caller?: string;
  agent?: string;
  callId?: string;
  direction?: 'inbound' | 'outbound';
  minDurationMs?: number;
  maxDurationMs?: number;
  flag?: RecordingFlag;
}

export function createPlayback(deps: PlaybackDeps) {
  function open(r: Recording): OpenedRecording {
    // Synthetic rows (callvault seed) carry metadata only: there is nothing to open.
    if (r.header.length === 0) throw new HttpError(410, 'this record has no audio (a synthetic call from callvault seed)');
    return openRecording({ header: Buffer.from(r.header), identity: deps.archiveIdentity(), recordingId: r.id });
  }

  const { findPermitted, requireStepUp, allowedActions } = createRecordingAccess(deps);

  /** The catalog's header and the store's payload, checked to be whole. */
  async function payloadOf(r: Recording): Promise<AsyncIterable<Buffer>> {
    const size = await deps.store.size(r.blob_key);
    if (size !== r.payload_size) throw new Error(`recording ${r.id}: stored payload is ${size} bytes, the catalog expects ${r.payload_size}`);
    return deps.store.stream(r.blob_key);
  }

  const service = {
    async list(p: Principal, q: ListQuery, info: RequestInfo) {
      let callerIndex: Buffer | undefined;
      if (q.caller !== undefined) {
        try {
          callerIndex = deps.blindIndex.phone(toE164(q.caller));
        } catch {
          throw new HttpError(400, 'caller must be a phone number in E.164 or Swedish national form');
        }
      }
      const now = (deps.now ?? Date.now)();
      const filter: ListFilter = {
        scope: recordingScope(p, 'recordings:list'), now,
        limit: q.limit, cursor: q.cursor, careUnit: q.careUnit, numberIndex: callerIndex, agentId: q.agent, externalCallId: q.callId, direction: q.direction,
        from: q.from ? parseIsoInstant(q.from)! : undefined, to: q.to ? parseIsoInstant(q.to)! : undefined,
        minDurationMs: q.minDurationMs, maxDurationMs: q.maxDurationMs, flag: q.flag,
      };
      let page;
      try {
        page = await deps.recordings.list(filter);
      } catch (err) {
        if (err instanceof CursorError) throw new HttpError(400, err.message);
        throw err;
      }
      // The count is of the first page's search only: paging on does not ask again.
      const count = q.cursor === undefined ? await deps.recordings.count(filter) : undefined;
      // The query already kept to the scope; the policy checks the page again over its ids.
      const granted = p.kind === 'user' ? await deps.grantedIds(p.userId, page.items.map((r) => r.id)) : new Set<string>();
      const allowed = permittedRecordings(p, 'recordings:list', page.items, granted);
      const items = page.items.filter((r) => allowed.has(r.id)).map(summary);
      await deps.audit.record({
        action: 'recordings.listed', actor: actorOf(p), outcome: 'success', ...info,
        patientPseudonym: pseudonymOfIndex(callerIndex ?? null),
        details: {
          filters: {
            careUnit: q.careUnit ?? null, from: q.from ?? null, to: q.to ?? null, caller: q.caller !== undefined, agent: q.agent ?? null, callId: q.callId !== undefined, direction: q.direction ?? null,
            minDurationMs: q.minDurationMs ?? null, maxDurationMs: q.maxDurationMs ?? null, flag: q.flag ?? null, cursor: q.cursor !== undefined,
          },
          count: items.length,
        },
      });
      return { items, next: page.next, ...(count ? { count } : {}) };
    },

    /** Calls per day in [from, to) within the principal's scope (a summary, audited as a listing). */
    async perDay(p: Principal, q: { from: string; to: string; careUnit?: string }, info: RequestInfo) {
      // Both checked as real dates by the route's schema (isoInstant).
      const from = parseIsoInstant(q.from)!;
      const to = parseIsoInstant(q.to)!;
      if (!(to > from) || to - from > 366 * 86_400_000) throw new HttpError(400, 'from must be before to, at most 366 days apart');
      const days = await deps.recordings.perDay({ scope: recordingScope(p, 'recordings:list'), now: (deps.now ?? Date.now)(), from, to, careUnit: q.careUnit });
      await deps.audit.record({ action: 'recordings.listed', actor: actorOf(p), outcome: 'success', ...info,
        details: { perDay: true, filters: { careUnit: q.careUnit ?? null, from: q.from, to: q.to }, count: days.reduce((n, d) => n + d.calls, 0) } });
      return { days };
    },

    async get(p: Principal, id: string, info: RequestInfo): Promise<RecordingDetail> {
      const r = await findPermitted(p, 'recordings:view', id, info);
      const allowed = allowedActions(p, r);
      if (r.header.length === 0) {
        await deps.audit.record({ action: 'recording.viewed', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit, patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: emergencyAccess(r) });
        return { ...summary(r), caller: null, callee: null, allowed };
      }
      const opened = open(r);
      let detail: RecordingDetail;
      try {
        const field = (label: string, sealed: Uint8Array | null) => (sealed ? opened.openField(label, Buffer.from(sealed)).toString() : null);
        detail = { ...summary(r), caller: field(FIELD_CALLER, r.caller_sealed), callee: field(FIELD_CALLEE, r.callee_sealed), allowed };
      } finally {
        opened.destroy();
      }
      await deps.audit.record({ action: 'recording.viewed', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit, patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: emergencyAccess(r) });
      return detail;
    },

    /**
     * Opens [start, end) of the recording's audio as served: the stored file, or for raw G.711
     * a WAV header followed by the samples, so that any player can play it. The play is
     * audited before this returns.
     */
    async audio(p: Principal, id: string, range: (size: number) => { start: number; end: number } | 'unsatisfiable', info: RequestInfo,
      action: 'recording.played' | 'recording.downloaded' = 'recording.played'): Promise<AudioStream> {
      const r = await findPermitted(p, action === 'recording.played' ? 'recordings:play' : 'recordings:download', id, info);
      const prefix = r.container === 'raw'
        ? wavHeader({ codec: r.codec as WavCodec, sampleRate: r.sample_rate, channels: r.channels, dataLength: r.plaintext_size })
        : Buffer.alloc(0);
      const size = prefix.length + r.plaintext_size;
      const want = range(size);
      if (want === 'unsatisfiable') throw new HttpError(416, 'the requested range is not within the recording', { 'content-range': `bytes */${size}` });
      // Opened before the play is audited: a record with no audio is refused, and no play of it logged.
      const opened = open(r);
      try {
        await deps.audit.record({
          action, actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
          patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: { start: want.start, end: want.end, ...emergencyAccess(r) },
        });
      } catch (err) {
        opened.destroy();
        throw err;
      }
      const { start, end } = want;
      async function* body(): AsyncGenerator<Buffer> {
        try {
          if (start < prefix.length) yield prefix.subarray(start, Math.min(prefix.length, end));
          yield* opened.readRange({
            payloadSize: r.payload_size, start: Math.max(0, start - prefix.length), end: Math.max(0, end - prefix.length),
            read: (offset, length) => deps.store.read(r.blob_key, offset, length),
          });
        } finally {
          opened.destroy(); // the file key does not outlive the answer
        }
      }
      return { size, start, end, contentType: CONTENT_TYPES[r.container] ?? 'application/octet-stream', body: body() };
    },

    /**
     * Peaks of the recording's audio for drawing its waveform (`points` slices per channel).
     * They are derived from the audio, so they need the play permission and are audited as a
     * view of the recording.
     */
    async waveform(p: Principal, id: string, points: number, info: RequestInfo): Promise<{ channels: number; durationMs: number; peaks: number[][] }> {
      const r = await findPermitted(p, 'recordings:play', id, info);
      if (!isPeakCodec(r.codec)) throw new HttpError(415, `no waveform for ${r.codec} recordings; play it instead`);
      const opened = open(r);
      try {
        const read = (offset: number, length: number) => deps.store.read(r.blob_key, offset, length);
        let start = 0;
        if (r.container === 'wav') {
          const head: Buffer[] = [];
          for await (const piece of opened.readRange({ payloadSize: r.payload_size, start: 0, end: Math.min(r.plaintext_size, 65_536), read })) head.push(Buffer.from(piece));
          const offset = wavDataOffset(Buffer.concat(head));
          if (offset === null) throw new HttpError(415, 'this recording has no waveform (its WAV header is too long to read quickly)');
          start = offset;
        }
        const bytesPerFrame = r.channels * (r.codec === 'pcm_s16le' ? 2 : 1);
        const frames = Math.floor((r.plaintext_size - start) / bytesPerFrame);
        await deps.audit.record({ action: 'recording.viewed', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
          patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: { part: 'waveform', points, ...emergencyAccess(r) } });
        const audio = opened.readRange({ payloadSize: r.payload_size, start, end: start + frames * bytesPerFrame, read });
        const peaks = await computePeaks(audio, { codec: r.codec, channels: r.channels, frames, points });
        return { channels: r.channels, durationMs: r.duration_ms, peaks };
      } finally {
        opened.destroy();
      }
    },

    /** Who did what with this recording: its own entries of the audit log, newest first. */
    async history(p: Principal, id: string, info: RequestInfo) {
      const r = await findPermitted(p, 'recordings:history', id, info);
      const rows = await deps.auditEvents(r.id);
      await deps.audit.record({ action: 'audit.searched', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit, ...info,
        details: { filters: { recording: id }, count: rows.length } });
      return { items: rows };
    },

    /** The whole audio as a file to keep: needs the download permission and a fresh step-up. */
    async download(p: Principal, id: string, info: RequestInfo): Promise<AudioStream & { fileName: string }> {
      const r = await findPermitted(p, 'recordings:download', id, info);
      await requireStepUp(p, r, 'recordings:download', info);
      const a = await service.audio(p, id, (size) => ({ start: 0, end: size }), info, 'recording.downloaded');
      return { ...a, fileName: `${r.id}.${r.container === 'ogg' ? 'ogg' : 'wav'}` };
    },

    /**
     * The recording as a standard age file for `recipient` (an age X25519 public key): the same
     * sealed payload under a header that wraps the file key to that recipient, so the receiver
     * decrypts it with the stock age tool. Needs the export permission and a fresh step-up.
     */
    async exportTo(p: Principal, id: string, recipient: string, info: RequestInfo): Promise<{ size: number; body: AsyncGenerator<Buffer>; fileName: string }> {
      const r = await findPermitted(p, 'recordings:export', id, info);
      await requireStepUp(p, r, 'recordings:export', info);
      let header: Buffer;
      try {
        header = rewrapRecordingHeader({ header: Buffer.from(r.header), identity: deps.archiveIdentity(), recordingId: r.id, recipients: [recipient] });
      } catch (err) {
        if (err instanceof SealError) throw new HttpError(400, 'recipient must be an age X25519 public key (age1...)');
        throw err;
      }
      const payload = await payloadOf(r);
      await deps.audit.record({ action: 'recording.exported', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
        patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: { format: 'age', recipient: sha256Hex(recipient).slice(0, 16) } });
      async function* body(): AsyncGenerator<Buffer> {
        yield header;
        yield* payload;
      }
      return { size: header.length + r.payload_size, body: body(), fileName: `${r.id}.age` };
    },
  };
  return service;
}

export type Playback = ReturnType<typeof createPlayback>;
