// A run of simulated live calls against a tus endpoint: up to `concurrency` calls at once, their
// starts spread over a ramp so that their once-a-second PATCHes spread over the second, each
// call streaming G.711 at real rate for its duration (+-10 %), then completing.
//
// Bounded: `calls` calls at most, and a deadline (by default the ramp plus each wave's longest
// call plus a margin) after which every call still running is aborted and counted as failed.
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createAudioSource, type AudioSource } from './audio.ts';
import { runCall, type CallFailure, type CallOutcome } from './call.ts';
import { callMetadataHeader, describeCall, type G711Codec } from './metadata.ts';
import { systemClock, type Clock } from './pacing.ts';
import { LatencySeries, timeline, type LatencyStats } from './stats.ts';
import { createAgentPool, endpointOf, TusConnection, type ConnectionMode } from './tus-client.ts';
import { xorshift32 } from '../lib/xorshift.ts';

export interface SimulationOptions {
  url: string;
  key: string;
  calls: number;
  /** Calls at once; the default is all of them. */
  concurrency?: number;
  /** Seconds each call streams, varied by +-jitter. */
  durationS: number;
  jitter?: number;
  codec?: G711Codec;
  channels?: 1 | 2;
  careUnit?: string;
  patchIntervalMs?: number;
  /** Milliseconds over which the first `concurrency` calls start; default max(interval, concurrency ms). */
  rampMs?: number;
  connections?: ConnectionMode;
  /** Sockets of the pooled agent. */
  maxSockets?: number;
  /** Send Upload-Checksum (sha256) with every PATCH; default true. */
  checksum?: boolean;
  /** espeak-ng prompts when available ('auto', the default), or tones only. */
  speech?: 'auto' | 'off';
  /** Audio to use instead of making it (it fixes codec and channels). */
  source?: AudioSource;
  requestTimeoutMs?: number;
  maxRecoveries?: number;
  /** Hard limit for the whole run, in ms from its start. */
  deadlineMs?: number;
  /** Also report latency over acks that arrived in [fromMs, toMs) from the start of the run. */
  measure?: { fromMs: number; toMs: number };
  progressIntervalMs?: number;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  clock?: Clock;
  /** Seeds durations and start positions in the audio (reproducible runs). */
  seed?: number;
}

export interface Progress {
  elapsedMs: number;
  calls: number;
  active: number;
  completed: number;
  failed: number;
  patches: number;
  bytesAcked: number;
  errors: number;
  /** Ack latency over the last `recentMs`. */
  recent: LatencyStats;
  recentMs: number;
  content: 'speech' | 'tones';
}

export interface RecordingOutcome extends CallOutcome {
  index: number;
}

export interface SimulationSummary {
  calls: number;
  started: number;
  completed: number;
  failed: number;
  patches: number;
  bytesAcked: number;
  elapsedMs: number;
  latency: LatencyStats;
  window?: LatencyStats & { fromMs: number; toMs: number; /** One entry a second of the window. */ perSecond: LatencyStats[] };
  errors: Record<string, number>;
  firstFailure?: CallFailure;
  /** Ids of the recordings that completed. */
  recordingIds: string[];
  /** Every call that was started, completed or not. */
  recordings: RecordingOutcome[];
  content: 'speech' | 'tones';
  codec: G711Codec;
  channels: 1 | 2;
  aborted: boolean;
}

const RECENT_MS = 5000;

function seeded(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 0x100000000;
}

export function validateOptions(o: SimulationOptions): void {
  const int = (v: number, name: string, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  };
  int(o.calls, 'calls', 1, 1_000_000);
  if (o.concurrency !== undefined) int(o.concurrency, 'concurrency', 1, 100_000);
  if (!(o.durationS > 0 && o.durationS <= 24 * 3600)) throw new RangeError('duration must be more than 0 and at most 86400 seconds');
  if (o.jitter !== undefined && !(o.jitter >= 0 && o.jitter < 1)) throw new RangeError('jitter must be from 0 to below 1');
  if (o.patchIntervalMs !== undefined) int(o.patchIntervalMs, 'patch interval', 10, 60_000);
  if (o.maxSockets !== undefined) int(o.maxSockets, 'max sockets', 1, 100_000);
}

/** Node's timers take at most 2^31 - 1 ms (24.8 days) and fire at once beyond it: a longer wait is made of several. */
function longTimeout(fn: () => void, ms: number): { clear(): void } {
  const MAX = 2 ** 31 - 1;
  let timer: NodeJS.Timeout;
  const arm = (left: number) => {
    timer = left > MAX ? setTimeout(() => arm(left - MAX), MAX) : setTimeout(fn, left);
  };
  arm(ms);
  return { clear: () => clearTimeout(timer) };
}

export async function runSimulation(o: SimulationOptions): Promise<SimulationSummary> {
  validateOptions(o);
  const clock = o.clock ?? systemClock;
  const concurrency = Math.min(o.concurrency ?? o.calls, o.calls);
  const intervalMs = o.patchIntervalMs ?? 1000;
  const jitter = o.jitter ?? 0.1;
  const requestTimeoutMs = o.requestTimeoutMs ?? 30_000;
  const rampMs = o.rampMs ?? Math.max(intervalMs, concurrency);
  const waves = Math.ceil(o.calls / concurrency);
  const deadlineMs = o.deadlineMs ?? rampMs + waves * (o.durationS * (1 + jitter) * 1000 + 2 * requestTimeoutMs) + 10_000;
  const source = o.source ?? await createAudioSource({ codec: o.codec ?? 'pcmu', channels: o.channels ?? 1, speech: o.speech });
  const ep = endpointOf(o.url, o.key);
  const pool = createAgentPool({ https: ep.https, mode: o.connections ?? 'per-call', maxSockets: o.maxSockets });
  const rnd = seeded(o.seed ?? Date.now());
  const runId = randomBytes(4).toString('hex');

  const ctl = new AbortController();
  setMaxListeners(0, ctl.signal); // every call and every request in flight listens to it
  const onOuterAbort = () => ctl.abort();
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const t0 = clock.now();
  const deadline = longTimeout(() => ctl.abort(), deadlineMs);

  const latency = new LatencySeries();
  const errors: Record<string, number> = {};
  let firstFailure: CallFailure | undefined;
  let errorCount = 0;
  let patches = 0;
  let bytesAcked = 0;
  let active = 0;
  let completed = 0;
  let failed = 0;
  const recordings: RecordingOutcome[] = [];
  const events = {
    onAck(ms: number, bytes: number) {
      patches++;
      bytesAcked += bytes;
      latency.add(clock.now() - t0, ms);
    },
    onError(f: CallFailure) {
      errorCount++;
      errors[f.kind] = (errors[f.kind] ?? 0) + 1;
      if (!firstFailure && f.kind !== 'aborted') firstFailure = f;
    },
  };
  const snapshot = (): Progress => {
    const now = clock.now() - t0;
    return {
      elapsedMs: now, calls: o.calls, active, completed, failed, patches, bytesAcked, errors: errorCount,
      recent: latency.stats(now - RECENT_MS), recentMs: RECENT_MS, content: source.content,
    };
  };
  const ticker = o.onProgress ? setInterval(() => o.onProgress!(snapshot()), o.progressIntervalMs ?? 1000) : null;

  const runOne = async (index: number): Promise<void> => {
    const { agent, release } = pool.acquire();
    active++;
    try {
      const description = describeCall({ index, runId, careUnit: o.careUnit ?? 'Simulation', codec: source.codec, channels: source.channels, startedAt: new Date() });
      const seconds = o.durationS * (1 + jitter * (2 * rnd() - 1));
      const sourcePosition = Math.floor(rnd() * (source.loopBytes / source.frameBytes)) * source.frameBytes;
      const outcome = await runCall(new TusConnection(ep, agent), source, clock, {
        metadata: callMetadataHeader(description), seconds, sourcePosition, intervalMs, checksum: o.checksum ?? true,
        requestTimeoutMs, maxRecoveries: o.maxRecoveries ?? 5,
      }, events, ctl.signal);
      recordings.push({ index, ...outcome });
      if (outcome.completed) completed++;
      else failed++;
    } finally {
      active--;
      release();
    }
  };

  // Start calls: the first wave staggered over the ramp, later calls as slots free up.
  const running = new Set<Promise<void>>();
  let started = 0;
  try {
    for (let i = 0; i < o.calls && !ctl.signal.aborted; i++) {
      if (i < concurrency) await clock.sleep(t0 + (i * rampMs) / concurrency - clock.now(), ctl.signal);
      else while (running.size >= concurrency && !ctl.signal.aborted) await Promise.race(running);
      if (ctl.signal.aborted) break;
      const p: Promise<void> = runOne(i).finally(() => running.delete(p));
      running.add(p);
      started++;
    }
    await Promise.all(running);
  } finally {
    deadline.clear();
    if (ticker) clearInterval(ticker);
    o.signal?.removeEventListener('abort', onOuterAbort);
    pool.destroy();
  }
  if (o.onProgress) o.onProgress(snapshot());

  recordings.sort((a, b) => a.index - b.index);
  const summary: SimulationSummary = {
    calls: o.calls, started, completed, failed: failed + (o.calls - started), patches, bytesAcked,
    elapsedMs: clock.now() - t0, latency: latency.stats(), errors, firstFailure,
    recordingIds: recordings.filter((r) => r.completed && r.id).map((r) => r.id!),
    recordings, content: source.content, codec: source.codec, channels: source.channels, aborted: ctl.signal.aborted,
  };
  if (o.measure) {
    const { fromMs, toMs } = o.measure;
    summary.window = { ...latency.stats(fromMs, toMs), fromMs, toMs, perSecond: timeline(latency, fromMs, toMs, 1000) };
  }
  return summary;
}
