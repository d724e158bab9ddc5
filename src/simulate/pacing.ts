// Real-rate pacing of a live call: how many bytes of audio exist at a given moment, and when the
// next PATCH is due. Pure arithmetic over a Clock port, so it is testable with a fake clock.
//
// A call that starts at t0 has produced floor(rate * (t - t0)) bytes by time t (whole frames
// only), capped at its total. PATCHes go out on ticks t0 + k * interval and carry what the
// audio source produced up to the tick; a PATCH answered late skips the ticks it overlapped and
// the next one carries everything due since (a PBX buffers audio while the network is slow).

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Resolves after `ms` milliseconds, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep(ms, signal) {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
    });
  },
};

export interface PaceOptions {
  /** Audio bytes a second (8000 for mono G.711 at 8 kHz, 16000 for stereo). */
  bytesPerSecond: number;
  /** Bytes of one frame (1 for mono G.711, 2 for stereo): chunks never split a frame. */
  frameBytes: number;
  totalBytes: number;
  intervalMs: number;
}

/** Bytes of a call of `seconds` seconds, in whole frames. */
export function callBytes(seconds: number, bytesPerSecond: number, frameBytes: number): number {
  return Math.max(frameBytes, Math.round((seconds * bytesPerSecond) / frameBytes) * frameBytes);
}

export class Pacer {
  readonly #o: PaceOptions;
  readonly #startMs: number;
  #tick = 0;

  constructor(opts: PaceOptions, startMs: number) {
    if (!(opts.bytesPerSecond > 0 && opts.intervalMs > 0 && opts.frameBytes > 0 && opts.totalBytes > 0)) {
      throw new RangeError('pacing needs a positive rate, interval, frame size and total');
    }
    this.#o = opts;
    this.#startMs = startMs;
  }

  /** Bytes produced by time `atMs`: whole frames, at most the total. */
  producedBy(atMs: number): number {
    const { bytesPerSecond, frameBytes, totalBytes } = this.#o;
    const elapsed = Math.max(0, atMs - this.#startMs);
    const frames = Math.floor((elapsed * bytesPerSecond) / 1000 / frameBytes + 1e-6);
    return Math.min(totalBytes, frames * frameBytes);
  }

  /** When the audio ends (the moment the last byte exists). */
  get endMs(): number {
    return this.#startMs + (this.#o.totalBytes / this.#o.bytesPerSecond) * 1000;
  }

  /**
   * The next tick after the one last returned, skipping ticks already in the past at `nowMs`
   * (but the one just passed: it is sent at once). Returns its time and the bytes due then.
   */
  next(nowMs: number): { atMs: number; due: number } {
    const { intervalMs } = this.#o;
    const passed = Math.floor((nowMs - this.#startMs) / intervalMs);
    this.#tick = Math.max(this.#tick + 1, passed);
    const atMs = this.#startMs + this.#tick * intervalMs;
    // The last tick is the end of the audio, not a whole interval after the one before it.
    if (atMs >= this.endMs) return { atMs: Math.max(this.endMs, Math.min(atMs, nowMs)), due: this.#o.totalBytes };
    return { atMs, due: this.producedBy(atMs) };
  }
}
