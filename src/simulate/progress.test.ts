import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProgressDisplay, progressLine, summaryLines } from './progress.ts';
import type { Progress, SimulationSummary } from './simulation.ts';
import { parseSimulateArgs } from './verb.ts';
import { UsageError } from '../cli/output.ts';

const progress = (elapsedMs: number): Progress => ({
  elapsedMs, calls: 100, active: 40, completed: 55, failed: 5, patches: 1234, bytesAcked: 9_876_543, errors: 7,
  recent: { count: 200, p50: 0.84, p95: 3, p99: 12.34, max: 40 }, recentMs: 5000, content: 'tones',
});

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (s: string) => { writes.push(s); return true; } } };
}

test('progressLine says what is going on', () => {
  assert.equal(progressLine(progress(65_400)), '01:05 active 40  completed 55/100  failed 5  ack p50 0.84 ms p99 12.3 ms (last 5 s)  9.9 MB acked  errors 7');
});

test('on a terminal: one line redrawn in place, ended by done()', () => {
  const { writes, stream } = sink(true);
  const d = createProgressDisplay(stream);
  d.update(progress(1000));
  d.update(progress(2000));
  d.done();
  assert.equal(writes.length, 3);
  assert.ok(writes[0]!.startsWith('\r00:01 ') && writes[0]!.endsWith('\x1b[K'));
  assert.ok(writes[1]!.startsWith('\r00:02 '));
  assert.equal(writes[2], '\n');
});

test('elsewhere: plain lines, at most one per interval', () => {
  const { writes, stream } = sink(false);
  const d = createProgressDisplay(stream, { plainEveryMs: 5000 });
  for (let ms = 1000; ms <= 12_000; ms += 1000) d.update(progress(ms));
  d.done();
  assert.deepEqual(writes.map((w) => w.slice(0, 5)), ['00:01', '00:06', '00:11']);
  assert.ok(writes.every((w) => w.endsWith('\n') && !w.includes('\r')));
});

test('summaryLines names the first failure with its status and body', () => {
  const s: SimulationSummary = {
    calls: 2, started: 2, completed: 0, failed: 2, patches: 0, bytesAcked: 0, elapsedMs: 1000,
    latency: { count: 0, p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN },
    errors: { create_400: 2 }, firstFailure: { kind: 'create_400', phase: 'create', status: 400, body: '{"error":"Upload-Defer-Length is not supported"}\n' },
    recordingIds: [], recordings: [], content: 'tones', codec: 'pcmu', channels: 1, aborted: false,
  };
  const lines = summaryLines(s);
  assert.ok(lines.includes('errors: create_400 2'));
  assert.ok(lines.includes('first failure: create 400: {"error":"Upload-Defer-Length is not supported"}'));
});

test('simulate flags: defaults, checks, loopback only unless --allow-remote', () => {
  const o = parseSimulateArgs(['--url', 'http://127.0.0.1:8750', '--key', 'k', '--calls', '20', '--duration', '2.5'], {});
  assert.equal(o.calls, 20);
  assert.equal(o.concurrency, 20);
  assert.equal(o.durationS, 2.5);
  assert.equal(o.codec, 'pcmu');
  assert.equal(o.channels, 1);
  assert.equal(o.checksum, true);
  assert.equal(o.connections, 'per-call');
  const p = parseSimulateArgs(['--url', 'http://[::1]:1', '--calls', '3', '--concurrency', '2', '--codec', 'pcma', '--channels', '2', '--no-checksum', '--connections', 'pooled', '--max-sockets', '8', '--care-unit', 'Vårdcentral Åby'], { CALLVAULT_INGEST_KEY: 'from-env' });
  assert.equal(p.key, 'from-env');
  assert.equal(p.checksum, false);
  assert.equal(p.channels, 2);
  assert.equal(p.maxSockets, 8);
  assert.equal(p.careUnit, 'Vårdcentral Åby');
  const bad = (args: string[], re: RegExp) => assert.throws(() => parseSimulateArgs(args, {}), (e: unknown) => e instanceof UsageError && re.test(e.message));
  bad(['--key', 'k'], /--url is required/);
  bad(['--url', 'http://127.0.0.1:1'], /--key/);
  bad(['--url', 'http://192.0.2.1:8750', '--key', 'k'], /--allow-remote/);
  bad(['--url', 'ftp://127.0.0.1', '--key', 'k'], /http/);
  bad(['--url', 'http://127.0.0.1:1', '--key', 'k', '--calls', '0'], /--calls/);
  bad(['--url', 'http://127.0.0.1:1', '--key', 'k', '--codec', 'opus'], /--codec must be pcmu or pcma/);
  bad(['--url', 'http://127.0.0.1:1', '--key', 'k', '--duration', 'x'], /--duration/);
  bad(['--url', 'http://127.0.0.1:1', '--key', 'k', '--care-unit', 'a,b'], /--care-unit/);
  bad(['--url', 'http://127.0.0.1:1', '--key', 'k', '--bogus'], /bogus/);
  assert.equal(parseSimulateArgs(['--url', 'http://192.0.2.1:8750', '--key', 'k', '--allow-remote'], {}).url, 'http://192.0.2.1:8750');
});
