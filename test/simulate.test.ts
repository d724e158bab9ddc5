// The load generator end to end, against a real tus server on loopback: the tus project's
// reference server (@tus/server + FileStore), in-process. (callvault's own live ingest gets its
// end-to-end test once it speaks creation-defer-length.)
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTusReference, type TusReference } from '../bench/live-reference.ts';
import { runCli } from './helpers/cli.ts';
import { createAudioSource } from '../src/simulate/audio.ts';
import { runSimulation, type Progress } from '../src/simulate/simulation.ts';

const KEY = 'test-ingest-key';
let dir: string;
let ref: TusReference;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'callvault-sim-'));
  ref = await startTusReference({ directory: dir, key: KEY });
});

after(async () => {
  await ref.close();
  await rm(dir, { recursive: true, force: true });
});

test('live calls at real rate: every acknowledged byte is on disk, in order, and each upload completes', async () => {
  const source = await createAudioSource({ codec: 'pcmu', channels: 1, speech: 'off' });
  const progress: Progress[] = [];
  const s = await runSimulation({
    url: ref.url, key: KEY, calls: 5, concurrency: 4, durationS: 3, patchIntervalMs: 1000, source,
    // A deadline beyond what one Node timer holds (24.8 days), as a long run computes: the run is not cut at once.
    careUnit: 'Sim unit', rampMs: 500, deadlineMs: 3_000_000_000, onProgress: (p) => progress.push(p), progressIntervalMs: 500,
  });
  assert.deepEqual(s.errors, {});
  assert.equal(s.firstFailure, undefined);
  assert.equal(s.completed, 5);
  assert.equal(s.failed, 0);
  assert.equal(s.recordingIds.length, 5);
  assert.equal(s.recordings.length, 5);
  const total = s.recordings.reduce((sum, r) => sum + r.totalBytes, 0);
  assert.equal(s.bytesAcked, total);
  assert.ok(s.patches >= 5 * 3, `${s.patches} PATCHes`); // about one a second, the last at hang-up
  assert.equal(s.latency.count, s.patches);
  assert.ok(s.latency.p99 >= s.latency.p50 && s.latency.max >= s.latency.p99);
  // The fifth call waited for a free slot, so the run took about two call lengths.
  assert.ok(s.elapsedMs >= 5000 && s.elapsedMs < 15_000, `run took ${s.elapsedMs} ms`);

  for (const r of s.recordings) {
    assert.match(r.id!, /^[0-9a-f]{32}$/);
    assert.equal(r.completed, true);
    // 3 s +- 10 % of 8000 B/s u-law.
    assert.ok(r.totalBytes >= 21_600 && r.totalBytes <= 26_400, `${r.totalBytes} bytes`);
    assert.equal(r.ackedBytes, r.totalBytes);
    assert.equal((await stat(join(dir, r.id!))).size, r.totalBytes);
    assert.deepEqual(await readFile(join(dir, r.id!)), Buffer.from(source.read(r.sourcePosition, r.totalBytes)));
    const info = JSON.parse(await readFile(join(dir, `${r.id}.json`), 'utf8')) as { size: number; offset: number; metadata: Record<string, string> };
    assert.equal(info.size, r.totalBytes); // Upload-Length arrived with the last PATCH
    assert.equal(info.metadata.codec, 'pcmu');
    assert.equal(info.metadata.sampleRate, '8000');
    assert.equal(info.metadata.channels, '1');
    assert.equal(info.metadata.careUnit, 'Sim unit');
    assert.match(info.metadata.startedAt!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(info.metadata.caller!, /^\+46\d{9}$/);
  }
  assert.ok(progress.length >= 3);
  assert.equal(progress.at(-1)!.completed, 5);
  assert.equal(progress.at(-1)!.active, 0);
  assert.ok(progress.some((p) => p.active === 4), 'four calls ran at once');
});

test('stereo A-law over one pooled keep-alive socket', async () => {
  const s = await runSimulation({
    url: ref.url, key: KEY, calls: 3, durationS: 2, codec: 'pcma', channels: 2, speech: 'off',
    connections: 'pooled', maxSockets: 1, rampMs: 300, deadlineMs: 20_000,
  });
  assert.deepEqual(s.errors, {});
  assert.equal(s.completed, 3);
  for (const r of s.recordings) {
    assert.equal(r.totalBytes % 2, 0);
    assert.equal((await stat(join(dir, r.id!))).size, r.totalBytes);
  }
});

/** The real command's simulate verb, as an operator runs it. */
const runVerb = (args: string[]) => runCli(['simulate', ...args], { timeoutMs: 30_000 });

test('the simulate verb: exit 0 with a summary when every call completed', async () => {
  const r = await runVerb(['--url', ref.url, '--key', KEY, '--calls', '2', '--concurrency', '2', '--duration', '2', '--speech', 'off']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /calls: 2 requested, 2 started, 2 completed, 0 failed/);
  assert.match(r.stdout, /ack latency: p50 [\d.]+ ms, p95 [\d.]+ ms, p99 [\d.]+ ms/);
  assert.match(r.stdout, /errors: none/);
  assert.match(r.stdout, /All 2 calls completed\./);
});

test('the simulate verb: exit 1 naming the first failure when the server refuses the key', async () => {
  const r = await runVerb(['--url', ref.url, '--key', 'wrong-key', '--calls', '2', '--duration', '1', '--speech', 'off']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /errors: create_401 2/);
  assert.match(r.stdout, /first failure: create 401: unauthorized/);
  assert.match(r.stderr, /2 of 2 calls did not complete/);
});

test('the simulate verb: arguments it cannot run are refused before anything is announced, with their bounds', async () => {
  for (const [args, why] of [
    [['--calls', '9999999'], /calls must be an integer from 1 to 1000000/],
    [['--concurrency', '99999999'], /--concurrency must be a whole number from 1 to 9999999/],
  ] as const) {
    const r = await runVerb(['--url', ref.url, '--key', KEY, '--duration', '1', '--speech', 'off', ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, why);
    assert.doesNotMatch(r.stdout, /Simulating/);
  }
  const r = await runVerb(['--url', ref.url, '--key', KEY, '--calls', '1', '--concurrency', '50', '--duration', '1', '--speech', 'off']);
  assert.match(r.stdout, /Simulating 1 live calls \(1 at once/);
});
