// bench:rate-limit — the cost of the in-memory limits on sign-in, enrollment, passkey and
// sign-on requests (and of the sampler of refusals' audit events) under a flood from many
// addresses: N distinct addresses within one window, more than the tables hold, against the
// least such a table can cost (a Map set and get per address, the reference).
//
// Usage: npm run bench:rate-limit [-- --addresses 1000000 --runs 5]
import { parseArgs } from 'node:util';
import { createEventSampler, createRateLimiter } from '../src/http/rate-limit.ts';

const { values } = parseArgs({ options: { addresses: { type: 'string', default: '1000000' }, runs: { type: 'string', default: '5' } } });
const N = Number(values.addresses);
const RUNS = Number(values.runs);
const WINDOW_MS = 60_000;
const addresses = Array.from({ length: N }, (_, i) => `2001:db8::${i.toString(16)}`);

/** Microseconds per address; the clock advances so that all of them fall in 50 s, inside one window. */
function perAddress(make: (now: () => number) => (key: string) => unknown): number {
  let t = 0;
  const call = make(() => t);
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    t = (i * 50_000) / N;
    call(addresses[i]!);
  }
  return ((performance.now() - start) * 1000) / N;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<'limiter' | 'sampler' | 'reference', number[]> = { limiter: [], sampler: [], reference: [] };
for (let r = 0; r < RUNS; r++) {
  results.limiter.push(perAddress((now) => {
    const l = createRateLimiter({ limit: 20, windowMs: WINDOW_MS, now });
    return (k) => l.hit(k);
  }));
  results.sampler.push(perAddress((now) => {
    const s = createEventSampler({ windowMs: WINDOW_MS, now });
    return (k) => s.take(k);
  }));
  results.reference.push(perAddress(() => {
    const m = new Map<string, number>();
    return (k) => m.set(k, (m.get(k) ?? 0) + 1);
  }));
}
const ref = median(results.reference);
for (const name of ['limiter', 'sampler'] as const) {
  console.log(`${name}: ${median(results[name]).toFixed(2)} us an address (median of ${RUNS}), ${N} addresses in one window; a bare Map (reference) ${ref.toFixed(2)} us; ratio ${(median(results[name]) / ref).toFixed(1)}`);
}
console.log(`RESULT rate_limit limiter_us=${median(results.limiter).toFixed(2)} sampler_us=${median(results.sampler).toFixed(2)} map_us=${ref.toFixed(2)}`);
