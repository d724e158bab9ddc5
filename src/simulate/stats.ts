// Latency figures of the load generator: a growable series of (time, milliseconds) samples and
// nearest-rank percentiles over all of it or over a time window.
//
// Samples are appended in the order their acknowledgements arrive, so `at` never decreases and a
// window is a contiguous run found by binary search. Memory: 16 bytes a sample (10,000 calls at
// one PATCH a second for a minute: 9.6 MB).

export interface LatencyStats {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/**
 * Nearest-rank percentile of an ascending array: the smallest value with at least p% of the
 * samples at or below it. NaN for no samples.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError('percentile must be between 0 and 100');
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  return sorted[rank - 1]!;
}

export function latencyStats(values: ArrayLike<number>): LatencyStats {
  const sorted = Float64Array.from(values).sort();
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

export class LatencySeries {
  #at = new Float64Array(1024);
  #ms = new Float64Array(1024);
  #n = 0;

  get count(): number {
    return this.#n;
  }

  /** Records an acknowledgement that arrived at `atMs` after `ms` milliseconds. */
  add(atMs: number, ms: number): void {
    if (this.#n === this.#at.length) {
      const at = new Float64Array(this.#n * 2);
      const lat = new Float64Array(this.#n * 2);
      at.set(this.#at);
      lat.set(this.#ms);
      this.#at = at;
      this.#ms = lat;
    }
    if (this.#n > 0 && atMs < this.#at[this.#n - 1]!) atMs = this.#at[this.#n - 1]!; // clocks never run back here
    this.#at[this.#n] = atMs;
    this.#ms[this.#n] = ms;
    this.#n++;
  }

  /** Index of the first sample at or after `atMs`. */
  #lowerBound(atMs: number): number {
    let lo = 0;
    let hi = this.#n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#at[mid]! < atMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Figures over the samples with fromMs <= at < toMs (all of them by default). */
  stats(fromMs = Number.NEGATIVE_INFINITY, toMs = Number.POSITIVE_INFINITY): LatencyStats {
    return latencyStats(this.#ms.subarray(this.#lowerBound(fromMs), this.#lowerBound(toMs)));
  }
}

/** Per-bucket figures over [fromMs, toMs) in buckets of `stepMs` (e.g. one a second): where the slow acks cluster. */
export function timeline(series: LatencySeries, fromMs: number, toMs: number, stepMs: number): LatencyStats[] {
  const out: LatencyStats[] = [];
  for (let t = fromMs; t < toMs; t += stepMs) out.push(series.stats(t, Math.min(t + stepMs, toMs)));
  return out;
}

/** Milliseconds for display: "0.84", "12.3", "431", or "-" for no figure. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return ms.toFixed(0);
}
