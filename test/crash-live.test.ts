// The server is killed (SIGKILL) while 100 calls stream. After a restart every acknowledged
// byte of every call is there and decrypts, the interrupted calls are flagged and listed, and
// nothing else changed.
import assert from 'node:assert/strict';
import { decryptedAudio, reopenServer } from './helpers/archive.ts';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { initTestArchive, openTestArchive, releaseTestArchivesUnder } from './helpers/catalog.ts';
import { makeRawG711 } from '../src/ingest/g711.ts';
import { BIN, startServing, tempRoot } from './helpers/cli.ts';
import { metaHeader } from './helpers/tus.ts';

const CALLS = 100;
const PIECE = 800; // a tenth of a second of G.711, sent ten times faster than real time
const META = metaHeader({ startedAt: '2026-11-25T10:00:00Z', direction: 'inbound', careUnit: 'unit-live', codec: 'pcmu', sampleRate: '8000', channels: '1' });

function send(agent: Agent, url: string, method: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: { 'tus-resumable': '1.0.0', ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}


describe(`SIGKILL while ${CALLS} calls stream`, () => {
  let root: string;
  let dir: string;
  let key: string;
  const calls: Array<{ id: string; audio: Buffer; acked: number; sent: number }> = [];
  let earlier: { id: string; blobKey: string; audio: Buffer };
  let again: Awaited<ReturnType<typeof reopenServer>>;

  before(async () => {
    root = await tempRoot('callvault-kill-');
    dir = join(root, 'data');
    await initTestArchive(dir);
    const setup = await openTestArchive(dir);
    key = (await setup.apiKeys.create({ name: 'pbx', scope: 'ingest', actor: { type: 'operator', id: 'test' } })).token;
    await setup.close();

    const server = await startServing(['serve', '--data', dir], { env: { CALLVAULT_LOG_LEVEL: 'warn' } });
    const { url } = server;
    const agent = new Agent({ keepAlive: true, maxSockets: CALLS + 10 });
    const auth = { authorization: `Bearer ${key}` };

    // One finished call from before: it must come through untouched.
    const done = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 2, hz: 300 });
    const c0 = await send(agent, `${url}/api/v1/uploads`, 'POST', { ...auth, 'upload-length': String(done.length), 'upload-metadata': META, 'content-type': 'application/offset+octet-stream' }, done);
    assert.equal(c0.status, 201);
    const earlierId = String(c0.headers.location).split('/').pop()!;

    for (let i = 0; i < CALLS; i++) {
      const res = await send(agent, `${url}/api/v1/uploads`, 'POST', { ...auth, 'upload-defer-length': '1', 'upload-metadata': META });
      assert.equal(res.status, 201);
      calls.push({ id: String(res.headers.location).split('/').pop()!, audio: makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 10, hz: 200 + i * 7 }), acked: 0, sent: 0 });
    }
    let stop = false;
    const streams = calls.map(async (c, i) => {
      await new Promise((r) => setTimeout(r, (i * 7) % 100));
      while (!stop && c.sent < c.audio.length) {
        const piece = c.audio.subarray(c.sent, c.sent + PIECE);
        c.sent += piece.length;
        try {
          const res = await send(agent, `${url}/api/v1/uploads/${c.id}`, 'PATCH', { ...auth, 'upload-offset': String(c.sent - piece.length), 'content-type': 'application/offset+octet-stream' }, piece);
          if (res.status !== 204) throw new Error(`PATCH ${res.status}`);
          c.acked = Number(res.headers['upload-offset']);
        } catch {
          return; // the server is gone
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    await new Promise((r) => setTimeout(r, 1500));
    server.child.kill('SIGKILL');
    stop = true;
    await server.exited;
    await Promise.all(streams);
    agent.destroy();

    again = await reopenServer(dir);
    const r0 = (await again.archive.recordings.get(earlierId))!;
    earlier = { id: earlierId, blobKey: r0.blob_key, audio: done };
  });
  after(async () => {
    await again?.close();
    await releaseTestArchivesUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('the calls were really streaming when the server died', () => {
    const acked = calls.reduce((n, c) => n + c.acked, 0);
    assert.ok(calls.filter((c) => c.acked > 0).length >= CALLS * 0.9, 'most calls had acknowledged audio');
    assert.ok(calls.every((c) => c.acked < c.audio.length), 'none had finished');
    assert.ok(acked > CALLS * PIECE * 3, `${acked} bytes acknowledged`);
  });

  it('every acknowledged byte of every call is filed and decrypts to what was sent', async () => {
    assert.equal(again.running.recovery.recovered.length + again.running.recovery.dropped.length, CALLS);
    for (const c of calls) {
      const r = await again.archive.recordings.get(c.id);
      if (c.acked === 0 && !r) continue; // nothing was ever acknowledged for it
      assert.ok(r, `call ${c.id} was lost`);
      assert.ok(r.plaintext_size >= c.acked, `call ${c.id}: ${r.plaintext_size} bytes filed, ${c.acked} acknowledged`);
      assert.ok(r.plaintext_size <= c.sent);
      assert.deepEqual(await decryptedAudio(again.archive, c.id), c.audio.subarray(0, r.plaintext_size));
    }
  });

  it('the interrupted calls are flagged, audited and listed as such', async () => {
    const rows = await again.archive.db.selectFrom('recordings').select(['id', 'flags']).where('care_unit', '=', 'unit-live').execute();
    const flagged = rows.filter((r) => JSON.parse(r.flags).includes('truncated_by_crash'));
    assert.equal(flagged.length, again.running.recovery.recovered.length);
    const audited = await again.archive.db.selectFrom('audit_events').select('object_id').where('action', '=', 'ingest.recovered').execute();
    assert.deepEqual(audited.map((a) => a.object_id).sort(), flagged.map((f) => f.id).sort());
    const page = await again.archive.recordings.list({ scope: { kind: 'all' }, now: Date.now(), limit: 200 });
    assert.ok(page.items.filter((r) => JSON.parse(r.flags).includes('truncated_by_crash')).length === flagged.length);
  });

  it('nothing else changed: the call finished before the crash is byte for byte the same', async () => {
    const r = (await again.archive.recordings.get(earlier.id))!;
    assert.equal(r.blob_key, earlier.blobKey);
    assert.deepEqual(JSON.parse(r.flags), []);
    assert.deepEqual(await decryptedAudio(again.archive, earlier.id), earlier.audio);
    const uploadsLeft = await again.archive.db.selectFrom('uploads').select('id').execute();
    assert.deepEqual(uploadsLeft, []);
  });
});

describe('HEAD during a slow flush, then SIGKILL', () => {
  it('reports only bytes that are durable: all of them are filed after the restart', async () => {
    const root = await tempRoot('callvault-head-');
    const dir = join(root, 'data');
    let again: Awaited<ReturnType<typeof reopenServer>> | undefined;
    try {
      await initTestArchive(dir);
      const setup = await openTestArchive(dir);
      const key = (await setup.apiKeys.create({ name: 'pbx', scope: 'ingest', actor: { type: 'operator', id: 'test' } })).token;
      await setup.close();
      const slowDisk = new URL('./helpers/slow-disk.ts', import.meta.url).pathname;
      const server = await startServing(['--import', slowDisk, BIN, 'serve', '--data', dir], {
        command: process.execPath, env: { CALLVAULT_LOG_LEVEL: 'warn', CALLVAULT_TEST_SLOW_WRITEV_MS: '300' },
      });
      const { url, port } = server;
      const agent = new Agent({ keepAlive: false });
      const auth = { authorization: `Bearer ${key}` };
      const created = await send(agent, `${url}/api/v1/uploads`, 'POST', { ...auth, 'upload-defer-length': '1', 'upload-metadata': META });
      assert.equal(created.status, 201);
      const id = String(created.headers.location).split('/').pop()!;
      // One long PATCH, a piece every 100 ms, while each flush of the journal takes 300 ms.
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(`PATCH /api/v1/uploads/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nAuthorization: Bearer ${key}\r\n` +
        'Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: 1000000\r\n\r\n');
      const pump = setInterval(() => socket.write(Buffer.alloc(1000, 0xff)), 100);
      await new Promise((r) => setTimeout(r, 1200));
      const head = await send(agent, `${url}/api/v1/uploads/${id}`, 'HEAD', auth);
      server.child.kill('SIGKILL');
      clearInterval(pump);
      socket.destroy();
      await server.exited;
      assert.equal(head.status, 200);
      const promised = Number(head.headers['upload-offset']);
      assert.ok(promised > 0, 'some bytes were durable before the HEAD');
      again = await reopenServer(dir);
      const r = await again.archive.recordings.get(id);
      assert.ok(r, 'the call was filed');
      assert.ok(r.plaintext_size >= promised, `HEAD said ${promised} bytes were durable; ${r.plaintext_size} were filed`);
    } finally {
      await again?.close();
      await releaseTestArchivesUnder(root);
      await rm(root, { recursive: true, force: true });
    }
  });
});
