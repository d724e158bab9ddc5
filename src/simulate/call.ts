// One simulated live call: create the upload, PATCH the audio at real rate, complete it at
// hang-up with Upload-Length, recover from what tus lets a client recover from.
//
// What a status means here (tus 1.0 core + creation-defer-length, plus 460 for checksums):
//   204  acknowledged; Upload-Offset must be exactly offset + bytes sent, else the ack is wrong
//   409  offset mismatch: HEAD tells the server's offset, the call resumes from there
//   460  checksum mismatch: the same bytes are sent again at once
//   401, 403, 404, 410: the call stops (the key or the upload is gone)
//   anything else, a timeout or a broken connection: HEAD and resume, a bounded number of times
// Every one of these is counted as an error of its kind: in a clean run there are none.
import type { AudioSource } from './audio.ts';
import { callBytes, Pacer, type Clock } from './pacing.ts';
import { intHeader, TransportError, type HttpOutcome } from './tus-client.ts';

/** The part of TusConnection a call uses (a fake in tests). */
export interface UploadTransport {
  create(metadata: string, timeoutMs: number, signal?: AbortSignal): Promise<HttpOutcome>;
  patch(o: { path: string; offset: number; body: Uint8Array; uploadLength?: number; checksum: boolean; timeoutMs: number; signal?: AbortSignal }): Promise<HttpOutcome>;
  head(path: string, timeoutMs: number, signal?: AbortSignal): Promise<HttpOutcome>;
  uploadPathOf(location: string | undefined): string | null;
}

export type Phase = 'create' | 'patch' | 'head';

export interface CallFailure {
  kind: string;
  phase: Phase;
  status?: number;
  body?: string;
}

export interface CallEvents {
  /** A PATCH acknowledged as expected, `latencyMs` after its first byte went out. */
  onAck(latencyMs: number, bytes: number): void;
  onError(f: CallFailure): void;
}

export interface CallPlan {
  metadata: string;
  /** Seconds of audio this call streams. */
  seconds: number;
  /** Where in the source's loop this call's audio begins. */
  sourcePosition: number;
  intervalMs: number;
  checksum: boolean;
  requestTimeoutMs: number;
  /** Recoveries (HEAD and resume, or resend) allowed before the call is given up. */
  maxRecoveries: number;
}

export interface CallOutcome {
  /** The upload id (last segment of its URL), once created. */
  id: string | null;
  completed: boolean;
  totalBytes: number;
  ackedBytes: number;
  sourcePosition: number;
  /** Why the call failed; undefined when it completed. */
  failure?: string;
}

const STOP = new Set([401, 403, 404, 410]);

export async function runCall(t: UploadTransport, source: AudioSource, clock: Clock, plan: CallPlan, events: CallEvents, signal: AbortSignal): Promise<CallOutcome> {
  const total = callBytes(plan.seconds, source.bytesPerSecond, source.frameBytes);
  const out: CallOutcome = { id: null, completed: false, totalBytes: total, ackedBytes: 0, sourcePosition: plan.sourcePosition };
  const fail = (f: CallFailure): CallOutcome => {
    events.onError(f);
    out.failure = f.status ? `${f.phase} ${f.status}` : f.kind;
    return out;
  };
  const transportFailure = (e: unknown, phase: Phase): CallFailure => {
    if (e instanceof TransportError) return { kind: e.kind, phase };
    throw e;
  };
  const startMs = clock.now();
  const pacer = new Pacer({ bytesPerSecond: source.bytesPerSecond, frameBytes: source.frameBytes, totalBytes: total, intervalMs: plan.intervalMs }, startMs);

  let created: HttpOutcome;
  try {
    created = await t.create(plan.metadata, plan.requestTimeoutMs, signal);
  } catch (e) {
    return fail(transportFailure(e, 'create'));
  }
  if (created.status !== 201) return fail({ kind: `create_${created.status}`, phase: 'create', status: created.status, body: created.body });
  const path = t.uploadPathOf(created.headers.location as string | undefined);
  if (!path) return fail({ kind: 'create_bad_location', phase: 'create', status: 201, body: `Location: ${String(created.headers.location)}` });
  out.id = path.slice(path.lastIndexOf('/') + 1);

  let offset = 0; // what the server holds, as far as we know
  let lengthDeclared = false;
  let recoveries = 0;
  let resendNow = false;

  /** HEAD and take the server's offset. Returns a failure to end the call with, or null to go on. */
  const recover = async (): Promise<CallFailure | null> => {
    if (++recoveries > plan.maxRecoveries) return { kind: 'gave_up', phase: 'patch' };
    let h: HttpOutcome;
    try {
      h = await t.head(path, plan.requestTimeoutMs, signal);
    } catch (e) {
      return transportFailure(e, 'head');
    }
    const at = intHeader(h.headers['upload-offset']);
    if (h.status !== 200 || at === null) return { kind: `head_${h.status}`, phase: 'head', status: h.status, body: h.body };
    if (at > total) return { kind: 'head_offset_beyond_sent', phase: 'head', status: h.status };
    offset = at;
    out.ackedBytes = at; // the server confirms holding these
    lengthDeclared = intHeader(h.headers['upload-length']) === total;
    resendNow = true;
    return null;
  };

  for (;;) {
    let due: number;
    if (resendNow) {
      resendNow = false;
      due = pacer.producedBy(clock.now());
      if (due < total && clock.now() >= pacer.endMs) due = total;
    } else {
      const tick = pacer.next(clock.now());
      await clock.sleep(tick.atMs - clock.now(), signal);
      due = tick.due;
    }
    if (signal.aborted) return fail({ kind: 'aborted', phase: 'patch' });
    const final = due >= total;
    if (!final && due <= offset) continue; // nothing new to send yet
    if (final && offset === total && lengthDeclared) {
      out.completed = true; // the server already has everything (an ack lost on the way)
      return out;
    }
    const body = source.read(plan.sourcePosition + offset, due - offset);
    let r: HttpOutcome;
    try {
      r = await t.patch({ path, offset, body, uploadLength: final && !lengthDeclared ? total : undefined, checksum: plan.checksum, timeoutMs: plan.requestTimeoutMs, signal });
    } catch (e) {
      const f = transportFailure(e, 'patch');
      if (f.kind === 'aborted') return fail(f);
      events.onError(f);
      const stop = await recover();
      if (stop) return fail(stop);
      continue;
    }
    if (r.status === 204) {
      const acked = intHeader(r.headers['upload-offset']);
      if (acked === offset + body.length) {
        events.onAck(r.latencyMs, body.length);
        out.ackedBytes = acked;
        offset = acked;
        if (final) lengthDeclared = true;
        if (final && offset === total) {
          out.completed = true;
          return out;
        }
        continue;
      }
      events.onError({ kind: 'ack_offset_mismatch', phase: 'patch', status: 204, body: `Upload-Offset ${String(r.headers['upload-offset'])}, expected ${offset + body.length}` });
    } else if (r.status === 460) {
      events.onError({ kind: 'patch_460', phase: 'patch', status: 460, body: r.body });
      if (++recoveries > plan.maxRecoveries) return fail({ kind: 'gave_up', phase: 'patch' });
      resendNow = true;
      continue;
    } else if (STOP.has(r.status)) {
      return fail({ kind: `patch_${r.status}`, phase: 'patch', status: r.status, body: r.body });
    } else {
      events.onError({ kind: `patch_${r.status}`, phase: 'patch', status: r.status, body: r.body });
    }
    const stop = await recover();
    if (stop) return fail(stop);
  }
}
