// Finding and playing recordings. Every answer is audited before it leaves: list, metadata
// view, and each played byte range. Decryption needs the archive identity, which only this
// service (and export) receives.
import { openRecording, type OpenedRecording } from '../seal/index.ts';
import { permittedRecordings, actorOf, type Principal } from '../access/policy.ts';
import type { AuditLog } from '../audit/log.ts';
import { pseudonymOfIndex, type BlindIndex } from '../catalog/blind-index.ts';
import { toE164 } from '../catalog/phone.ts';
import type { ListFilter, RecordingRepo } from '../catalog/recordings.ts';
import type { Recording } from '../catalog/schema.ts';
import { HttpError, notFound } from '../http/errors.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { FIELD_CALLEE, FIELD_CALLER } from '../ingest/uploads.ts';
import { wavHeader, type WavCodec } from '../ingest/wav.ts';

export interface RequestInfo {
  requestId: string;
  source: string;
}

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
}

export interface RecordingDetail extends RecordingSummary {
  caller: string | null;
  callee: string | null;
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
    channels: r.channels, sizeBytes: r.plaintext_size, flags: JSON.parse(r.flags) as string[], hasCaller: r.caller_index !== null,
  };
}

const CONTENT_TYPES: Record<string, string> = { wav: 'audio/wav', raw: 'audio/wav', ogg: 'audio/ogg' };

export interface PlaybackDeps {
  recordings: RecordingRepo;
  store: BlobStore;
  audit: AuditLog;
  blindIndex: BlindIndex;
  archiveIdentity: () => string;
}

export function createPlayback(deps: PlaybackDeps) {
  function open(r: Recording): OpenedRecording {
    return openRecording({ header: Buffer.from(r.header), identity: deps.archiveIdentity(), recordingId: r.id });
  }

  async function findPermitted(p: Principal, permission: 'recordings:view' | 'recordings:play', id: string, info: RequestInfo): Promise<Recording> {
    const r = await deps.recordings.get(id);
    if (!r || !permittedRecordings(p, permission, [r.id]).has(r.id)) {
      // 404 either way: whether a recording exists is itself not for everyone to learn.
      await deps.audit.record({ action: 'recording.denied', actor: actorOf(p), outcome: 'denied', object: { type: 'recording', id }, ...info, details: { permission, found: Boolean(r) } });
      throw notFound();
    }
    return r;
  }

  return {
    async list(p: Principal, q: { limit: number; cursor?: string; careUnit?: string; from?: string; to?: string; caller?: string }, info: RequestInfo) {
      let callerIndex: Buffer | undefined;
      if (q.caller !== undefined) {
        try {
          callerIndex = deps.blindIndex.phone(toE164(q.caller));
        } catch {
          throw new HttpError(400, 'caller must be a phone number in E.164 or Swedish national form');
        }
      }
      const filter: ListFilter = {
        limit: q.limit, cursor: q.cursor, careUnit: q.careUnit, callerIndex,
        from: q.from ? Date.parse(q.from) : undefined, to: q.to ? Date.parse(q.to) : undefined,
      };
      const page = await deps.recordings.list(filter);
      const allowed = permittedRecordings(p, 'recordings:list', page.items.map((r) => r.id));
      const items = page.items.filter((r) => allowed.has(r.id)).map(summary);
      await deps.audit.record({
        action: 'recordings.listed', actor: actorOf(p), outcome: 'success', ...info,
        patientPseudonym: pseudonymOfIndex(callerIndex ?? null),
        details: { filters: { careUnit: q.careUnit ?? null, from: q.from ?? null, to: q.to ?? null, caller: q.caller !== undefined, cursor: q.cursor !== undefined }, count: items.length },
      });
      return { items, next: page.next };
    },

    async get(p: Principal, id: string, info: RequestInfo): Promise<RecordingDetail> {
      const r = await findPermitted(p, 'recordings:view', id, info);
      const opened = open(r);
      let detail: RecordingDetail;
      try {
        const field = (label: string, sealed: Uint8Array | null) => (sealed ? opened.openField(label, Buffer.from(sealed)).toString() : null);
        detail = { ...summary(r), caller: field(FIELD_CALLER, r.caller_sealed), callee: field(FIELD_CALLEE, r.callee_sealed) };
      } finally {
        opened.destroy();
      }
      await deps.audit.record({ action: 'recording.viewed', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit, patientPseudonym: pseudonymOfIndex(r.caller_index), ...info });
      return detail;
    },

    /**
     * Opens [start, end) of the recording's audio as served: the stored file, or for raw G.711
     * a WAV header followed by the samples, so that any player can play it. The play is
     * audited before this returns.
     */
    async audio(p: Principal, id: string, range: (size: number) => { start: number; end: number } | 'unsatisfiable', info: RequestInfo): Promise<AudioStream> {
      const r = await findPermitted(p, 'recordings:play', id, info);
      const prefix = r.container === 'raw'
        ? wavHeader({ codec: r.codec as WavCodec, sampleRate: r.sample_rate, channels: r.channels, dataLength: r.plaintext_size })
        : Buffer.alloc(0);
      const size = prefix.length + r.plaintext_size;
      const want = range(size);
      if (want === 'unsatisfiable') throw new HttpError(416, 'the requested range is not within the recording', { 'content-range': `bytes */${size}` });
      await deps.audit.record({
        action: 'recording.played', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
        patientPseudonym: pseudonymOfIndex(r.caller_index), ...info, details: { start: want.start, end: want.end },
      });
      const { start, end } = want;
      const opened = open(r);
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
  };
}

export type Playback = ReturnType<typeof createPlayback>;
