import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loopSource } from './audio.ts';
import { runCall, type CallFailure, type UploadTransport } from './call.ts';
import { callBytes, Pacer, type Clock } from './pacing.ts';
import { TransportError, type HttpOutcome } from './tus-client.ts';

class FakeClock implements Clock {
  t = 1_000_000.123; // an awkward start, as performance.now() gives
  now() {
    return this.t;
  }
  async sleep(ms: number) {
    if (ms > 0) this.t += ms;
  }
}

test('callBytes: whole frames, at least one', () => {
  assert.equal(callBytes(3, 8000, 1), 24000);
  assert.equal(callBytes(3.00001, 16000, 2), 48000);
  assert.equal(callBytes(2.5001, 8000, 1), 20001);
  assert.equal(callBytes(0, 8000, 2), 2);
});

test('Pacer: 8000 bytes a tick at real rate, the remainder at the end of the audio', () => {
  const c = new FakeClock();
  const p = new Pacer({ bytesPerSecond: 8000, frameBytes: 1, totalBytes: 28000, intervalMs: 1000 }, c.now());
  const sent: Array<[number, number]> = [];
  for (;;) {
    const { atMs, due } = p.next(c.now());
    c.t = Math.max(c.t, atMs);
    sent.push([Math.round(atMs - 1_000_000.123), due]);
    if (due === 28000) break;
  }
  assert.deepEqual(sent, [[1000, 8000], [2000, 16000], [3000, 24000], [3500, 28000]]);
});

test('Pacer: a slow ack skips the ticks it overlapped; the next PATCH carries what piled up', () => {
  const c = new FakeClock();
  const start = c.now();
  const p = new Pacer({ bytesPerSecond: 8000, frameBytes: 1, totalBytes: 80000, intervalMs: 1000 }, start);
  assert.deepEqual(p.next(c.now()), { atMs: start + 1000, due: 8000 });
  c.t = start + 3400; // that PATCH took 2.4 s
  assert.deepEqual(p.next(c.now()), { atMs: start + 3000, due: 24000 }); // sent at once
  c.t = start + 3410;
  assert.deepEqual(p.next(c.now()), { atMs: start + 4000, due: 32000 }); // back on the beat
});

test('Pacer: stereo never splits a frame; producedBy is capped at the total', () => {
  const c = new FakeClock();
  const p = new Pacer({ bytesPerSecond: 16000, frameBytes: 2, totalBytes: 16002, intervalMs: 333 }, c.now());
  for (let ms = 0; ms < 1100; ms += 7) assert.equal(p.producedBy(c.now() + ms) % 2, 0);
  assert.equal(p.producedBy(c.now() + 5000), 16002);
  assert.equal(p.producedBy(c.now() - 5), 0);
});

// --- runCall against a fake tus server --------------------------------------------------------

interface FakeOptions {
  /** Called before each PATCH is applied: return an outcome (or throw) to override it. */
  patchHook?: (n: number, offset: number, length: number) => HttpOutcome | 'apply-then-drop' | undefined;
  createStatus?: number;
  latencyMs?: number;
}

function fakeServer(clock: FakeClock, opts: FakeOptions = {}) {
  const state = { offset: 0, length: undefined as number | undefined, data: [] as Buffer[], patches: [] as Array<{ offset: number; bytes: number; uploadLength?: number }>, heads: 0 };
  let n = 0;
  const ok = (status: number, headers: Record<string, string> = {}, body = ''): HttpOutcome => ({ status, headers, body, latencyMs: opts.latencyMs ?? 1 });
  const t: UploadTransport = {
    async create() {
      return opts.createStatus ? ok(opts.createStatus, {}, 'nope') : ok(201, { location: '/api/v1/uploads/0123456789abcdef0123456789abcdef' });
    },
    async patch(o) {
      state.patches.push({ offset: o.offset, bytes: o.body.length, uploadLength: o.uploadLength });
      clock.t += opts.latencyMs ?? 1;
      const hook = opts.patchHook?.(n++, o.offset, o.body.length);
      if (hook && hook !== 'apply-then-drop') return hook;
      if (o.offset !== state.offset) return ok(409, {}, 'offset mismatch');
      if (o.uploadLength !== undefined) {
        if (state.length !== undefined) return ok(400, {}, 'length already set');
        state.length = o.uploadLength;
      }
      state.data.push(Buffer.from(o.body));
      state.offset += o.body.length;
      if (hook === 'apply-then-drop') throw new TransportError('network_ECONNRESET', 'reset');
      return ok(204, { 'upload-offset': String(state.offset) });
    },
    async head() {
      state.heads++;
      const h: Record<string, string> = { 'upload-offset': String(state.offset) };
      if (state.length !== undefined) h['upload-length'] = String(state.length);
      return ok(200, h);
    },
    uploadPathOf: (loc) => loc ?? null,
  };
  return { t, state };
}

const loop = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
const source = loopSource(loop, 'pcmu', 1, 'tones');
const plan = { metadata: 'm', seconds: 3.5, sourcePosition: 900, intervalMs: 1000, checksum: false, requestTimeoutMs: 1000, maxRecoveries: 3 };

function recorder() {
  const acks: number[] = [];
  const errors: CallFailure[] = [];
  return { acks, errors, events: { onAck: (_ms: number, bytes: number) => acks.push(bytes), onError: (f: CallFailure) => errors.push(f) } };
}

const expected = (total: number, from = 900) => source.read(from, total);

test('runCall: one PATCH a second, the last with Upload-Length, the bytes in order', async () => {
  const clock = new FakeClock();
  const { t, state } = fakeServer(clock);
  const r = recorder();
  const out = await runCall(t, source, clock, plan, r.events, new AbortController().signal);
  assert.equal(out.completed, true);
  assert.equal(out.id, '0123456789abcdef0123456789abcdef');
  assert.equal(out.totalBytes, 28000);
  assert.equal(out.ackedBytes, 28000);
  assert.deepEqual(r.acks, [8000, 8000, 8000, 4000]);
  assert.deepEqual(state.patches.map((p) => p.uploadLength), [undefined, undefined, undefined, 28000]);
  assert.deepEqual(Buffer.concat(state.data), expected(28000));
  assert.deepEqual(r.errors, []);
});

test('runCall: 409 -> HEAD -> resume from the server offset', async () => {
  const clock = new FakeClock();
  const { t, state } = fakeServer(clock, { patchHook: (n) => (n === 1 ? { status: 409, headers: {}, body: '', latencyMs: 1 } : undefined) });
  const r = recorder();
  const out = await runCall(t, source, clock, plan, r.events, new AbortController().signal);
  assert.equal(out.completed, true);
  assert.equal(state.heads, 1);
  assert.deepEqual(r.errors.map((e) => e.kind), ['patch_409']);
  assert.deepEqual(Buffer.concat(state.data), expected(28000));
});

test('runCall: 460 resends the same offset at once', async () => {
  const clock = new FakeClock();
  const { t, state } = fakeServer(clock, { patchHook: (n) => (n === 0 ? { status: 460, headers: {}, body: 'checksum', latencyMs: 1 } : undefined) });
  const r = recorder();
  const out = await runCall(t, source, clock, plan, r.events, new AbortController().signal);
  assert.equal(out.completed, true);
  assert.equal(state.patches[1]!.offset, 0);
  assert.equal(state.heads, 0);
  assert.deepEqual(r.errors.map((e) => e.kind), ['patch_460']);
  assert.deepEqual(Buffer.concat(state.data), expected(28000));
});

test('runCall: an ack lost on the way (the server applied it) is found by HEAD, not sent twice', async () => {
  const clock = new FakeClock();
  const { t, state } = fakeServer(clock, { patchHook: (n) => (n === 3 ? 'apply-then-drop' : undefined) });
  const r = recorder();
  const out = await runCall(t, source, clock, plan, r.events, new AbortController().signal);
  assert.equal(out.completed, true); // the final PATCH was applied, Upload-Length too
  assert.equal(out.ackedBytes, 28000); // as HEAD confirmed
  assert.equal(state.patches.length, 4);
  assert.deepEqual(r.errors.map((e) => e.kind), ['network_ECONNRESET']);
  assert.deepEqual(Buffer.concat(state.data), expected(28000));
});

test('runCall: a wrong Upload-Offset in a 204 is an error, and the call resumes from HEAD', async () => {
  const clock = new FakeClock();
  const { t, state } = fakeServer(clock, { patchHook: (n) => (n === 0 ? { status: 204, headers: { 'upload-offset': '7999' }, body: '', latencyMs: 1 } : undefined) });
  const r = recorder();
  const out = await runCall(t, source, clock, plan, r.events, new AbortController().signal);
  assert.equal(out.completed, true);
  assert.deepEqual(r.errors.map((e) => e.kind), ['ack_offset_mismatch']);
  assert.deepEqual(Buffer.concat(state.data), expected(28000));
});

test('runCall: 404 stops the call; a refused create fails it with status and body', async () => {
  const clock = new FakeClock();
  const gone = fakeServer(clock, { patchHook: (n) => (n === 2 ? { status: 404, headers: {}, body: 'no such upload', latencyMs: 1 } : undefined) });
  const r = recorder();
  const out = await runCall(gone.t, source, clock, plan, r.events, new AbortController().signal);
  assert.equal(out.completed, false);
  assert.equal(out.ackedBytes, 16000);
  assert.equal(out.failure, 'patch 404');
  assert.deepEqual(r.errors, [{ kind: 'patch_404', phase: 'patch', status: 404, body: 'no such upload' }]);

  const refused = fakeServer(clock, { createStatus: 400 });
  const r2 = recorder();
  const out2 = await runCall(refused.t, source, clock, plan, r2.events, new AbortController().signal);
  assert.equal(out2.completed, false);
  assert.equal(out2.id, null);
  assert.deepEqual(r2.errors, [{ kind: 'create_400', phase: 'create', status: 400, body: 'nope' }]);
});

test('runCall: gives up after maxRecoveries', async () => {
  const clock = new FakeClock();
  const { t } = fakeServer(clock, { patchHook: () => ({ status: 500, headers: {}, body: 'boom', latencyMs: 1 }) });
  const r = recorder();
  const out = await runCall(t, source, clock, { ...plan, maxRecoveries: 2 }, r.events, new AbortController().signal);
  assert.equal(out.completed, false);
  assert.equal(out.failure, 'gave_up');
  assert.deepEqual(r.errors.map((e) => e.kind), ['patch_500', 'patch_500', 'patch_500', 'gave_up']);
});

test('runCall: an aborted run ends the call as failed', async () => {
  const clock = new FakeClock();
  const { t } = fakeServer(clock);
  const ctl = new AbortController();
  ctl.abort();
  const r = recorder();
  const out = await runCall(t, source, clock, plan, r.events, ctl.signal);
  assert.equal(out.completed, false);
  assert.equal(out.failure, 'aborted');
});
