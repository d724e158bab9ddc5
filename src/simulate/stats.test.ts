import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmtMs, latencyStats, LatencySeries, percentile, timeline } from './stats.ts';

test('percentile is nearest-rank over a sorted array', () => {
  const xs = Float64Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 95), 95);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile(xs, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([1, 2, 3], 50), 2); // ceil(1.5) = 2nd
  assert.equal(percentile([1, 2, 3, 4], 50), 2); // ceil(2) = 2nd
  assert.equal(percentile([1, 2, 3, 4], 51), 3);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile(xs, 101), RangeError);
});

test('latencyStats sorts numerically, not as strings', () => {
  const s = latencyStats([10, 9, 100, 2, 1000, 3]);
  assert.equal(s.count, 6);
  assert.equal(s.p50, 9);
  assert.equal(s.max, 1000);
  assert.equal(s.p99, 1000);
  const empty = latencyStats([]);
  assert.equal(empty.count, 0);
  assert.ok(Number.isNaN(empty.p99) && Number.isNaN(empty.max));
});

test('a 1-in-100 slow ack is the p99 of 100 and not of 101', () => {
  const fast = Array.from({ length: 99 }, () => 1);
  assert.equal(latencyStats([...fast, 80]).p99, 1);
  assert.equal(latencyStats([...fast, 80, 80]).p99, 80);
});

test('LatencySeries grows past its first buffer and answers time windows', () => {
  const s = new LatencySeries();
  for (let i = 0; i < 5000; i++) s.add(i, i < 4000 ? 1 : 50); // the last 1000 acks are slow
  assert.equal(s.count, 5000);
  assert.equal(s.stats().count, 5000);
  assert.equal(s.stats().p50, 1);
  assert.equal(s.stats(4000).p50, 50);
  assert.equal(s.stats(4000).count, 1000);
  assert.equal(s.stats(1000, 2000).count, 1000);
  assert.equal(s.stats(1000, 2000).max, 1);
  assert.equal(s.stats(9999).count, 0);
});

test('LatencySeries keeps times in order even if a clock steps back', () => {
  const s = new LatencySeries();
  s.add(10, 1);
  s.add(5, 2);
  assert.equal(s.stats(10).count, 2);
});

test('fmtMs', () => {
  assert.equal(fmtMs(0.844), '0.84');
  assert.equal(fmtMs(12.34), '12.3');
  assert.equal(fmtMs(431.2), '431');
  assert.equal(fmtMs(Number.NaN), '-');
});

test('timeline: per-second figures show where slow acks cluster', () => {
  const s = new LatencySeries();
  for (let t = 0; t < 3000; t += 10) s.add(t, t >= 1000 && t < 2000 ? 40 : 2);
  const tl = timeline(s, 0, 3000, 1000);
  assert.deepEqual(tl.map((b) => [b.count, b.p99]), [[100, 2], [100, 40], [100, 2]]);
  assert.equal(timeline(s, 0, 2500, 1000).at(-1)!.count, 50);
});
