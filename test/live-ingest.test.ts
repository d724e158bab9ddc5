// Live calls: streamed while they happen with an off-the-shelf tus client (deferred length),
// every tus extension callvault speaks, and ingest keys that are write-only, bound and revocable.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeRecords, encodeRecord, RECORD } from '../src/ingest/journal.ts';
import * as tus from 'tus-js-client';
import { makeRawG711 } from '../src/ingest/g711.ts';
import { makeOggOpus } from '../src/ingest/ogg-make.ts';
import { ingestKey, startTestServer, type TestServer, decryptedAudio, reopenServer } from './helpers/archive.ts';
import { metaHeader, OCTETS, recordingIdOf, tusCreate, tusHead, tusHeaders, tusPatch } from './helpers/tus.ts';
import { releaseTestArchive } from './helpers/catalog.ts';

const RAW = { startedAt: '2026-11-25T09:00:00Z', direction: 'inbound', careUnit: 'unit-a', codec: 'pcmu', sampleRate: '8000', channels: '1' };


describe('live calls over tus', () => {
  let s: TestServer;
  let key: string;
  const create = (k: string, headers: Record<string, string>, body?: Buffer) => tusCreate(s.url, k, headers, body);
  const patch = (k: string, id: string, offset: number, body: Buffer, extra: Record<string, string> = {}) => tusPatch(s.url, k, id, offset, body, extra);

  before(async () => {
    s = await startTestServer();
    key = await ingestKey(s);
  });
  after(() => s.close());

  it('advertises the tus extensions', async () => {
    const res = await fetch(`${s.url}/api/v1/uploads`, { method: 'OPTIONS', headers: tusHeaders(key) });
    assert.equal(res.status, 204);
    assert.deepEqual(res.headers.get('tus-extension')!.split(',').sort(),
      ['checksum', 'creation', 'creation-defer-length', 'creation-with-upload', 'expiration', 'termination']);
    assert.equal(res.headers.get('tus-checksum-algorithm'), 'sha256');
  });

  it('tus-js-client streams a live G.711 call of unknown length, one PATCH a "second", and it is filed whole', async () => {
    // 12.5 s: tus-js-client never sees the end of a stream that ends exactly on a chunk boundary.
    const call = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 12.5, hz: 440 });
    // A live source: 8000 bytes (one second of audio) at a time, faster than real time.
    let sent = 0;
    const source = new Readable({
      read() {
        if (sent >= call.length) { this.push(null); return; }
        const piece = call.subarray(sent, sent + 8000);
        sent += piece.length;
        setTimeout(() => {
          this.push(piece);
          if (sent >= call.length) this.push(null);
        }, 20);
      },
    });
    const offsets: number[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      const upload = new tus.Upload(source, {
        endpoint: `${s.url}/api/v1/uploads`, headers: { authorization: `Bearer ${key}` }, metadata: RAW,
        uploadLengthDeferred: true, chunkSize: 8000, retryDelays: [],
        onChunkComplete: (_size, accepted) => offsets.push(accepted),
        onError: reject, onSuccess: () => resolve(upload.url!),
      });
      upload.start();
    });
    const id = recordingIdOf(url);
    assert.ok(offsets.length >= 12, `${offsets.length} PATCHes`);
    const r = (await s.archive.recordings.get(id))!;
    assert.equal(r.codec, 'pcmu');
    assert.equal(r.container, 'raw');
    assert.equal(r.channels, 1);
    assert.equal(r.duration_ms, 12_500);
    assert.deepEqual(JSON.parse(r.flags), []);
    assert.deepEqual(await decryptedAudio(s.archive, id), call);
  });

  it('creation-defer-length: HEAD says the length is deferred until a PATCH gives it', async () => {
    const created = await create(key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
    assert.equal(created.status, 201);
    assert.ok(created.headers.get('upload-expires'));
    const id = recordingIdOf(created.headers.get('location')!);
    const audio = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 2 });
    assert.equal((await patch(key, id, 0, audio.subarray(0, 8000))).status, 204);
    const h = await tusHead(s.url, key, id);
    assert.equal(h.headers.get('upload-defer-length'), '1');
    assert.equal(h.headers.get('upload-offset'), '8000');
    assert.equal(h.headers.get('upload-length'), null);
    const last = await patch(key, id, 8000, audio.subarray(8000), { 'upload-length': String(audio.length) });
    assert.equal(last.status, 204);
    assert.equal((await s.archive.recordings.get(id))!.duration_ms, 2000);
  });

  it('checksum: a mismatch is 460 and applies nothing; the right digest is accepted', async () => {
    const created = await create(key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
    const id = recordingIdOf(created.headers.get('location')!);
    const piece = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 1 });
    const wrong = createHash('sha256').update('something else').digest('base64');
    const bad = await patch(key, id, 0, piece, { 'upload-checksum': `sha256 ${wrong}` });
    assert.equal(bad.status, 460);
    // The tus checksum extension names it; Node.js knows no phrase for 460 and said "unknown".
    assert.equal(bad.statusText, 'Checksum Mismatch');
    const h = await tusHead(s.url, key, id);
    assert.equal(h.headers.get('upload-offset'), '0');
    const unknownAlgo = await patch(key, id, 0, piece, { 'upload-checksum': `md5 ${createHash('md5').update(piece).digest('base64')}` });
    assert.equal(unknownAlgo.status, 400);
    const good = await patch(key, id, 0, piece, { 'upload-checksum': `sha256 ${createHash('sha256').update(piece).digest('base64')}` });
    assert.equal(good.status, 204);
    assert.equal(good.headers.get('upload-offset'), String(piece.length));
  });

  it('creation-with-upload: the first bytes travel with the POST', async () => {
    const audio = makeRawG711({ codec: 'pcma', sampleRate: 8000, channels: 2, seconds: 1 });
    const created = await create(key, { 'upload-length': String(audio.length), 'upload-metadata': metaHeader({ ...RAW, codec: 'pcma', channels: '2' }), 'content-type': OCTETS }, audio);
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('upload-offset'), String(audio.length));
    const r = (await s.archive.recordings.get(recordingIdOf(created.headers.get('location')!)))!;
    assert.equal(r.codec, 'pcma');
    assert.equal(r.channels, 2);
    assert.equal(r.duration_ms, 1000);
  });

  it('Ogg/Opus calls are validated and their duration recorded', async () => {
    const ogg = makeOggOpus({ channels: 2, seconds: 3 });
    const created = await create(key, { 'upload-length': String(ogg.length), 'upload-metadata': metaHeader({ startedAt: RAW.startedAt, direction: RAW.direction, careUnit: RAW.careUnit, codec: 'ogg-opus' }), 'content-type': OCTETS }, ogg);
    assert.equal(created.status, 201, await created.text());
    const r = (await s.archive.recordings.get(recordingIdOf(created.headers.get('location')!)))!;
    assert.equal(r.codec, 'opus');
    assert.equal(r.container, 'ogg');
    assert.equal(r.channels, 2);
    assert.ok(Math.abs(r.duration_ms - 3000) < 40, `duration ${r.duration_ms}`);
    const garbage = await create(key, { 'upload-length': '4000', 'upload-metadata': metaHeader({ startedAt: RAW.startedAt, direction: 'inbound', careUnit: 'u', codec: 'ogg-opus' }), 'content-type': OCTETS }, Buffer.alloc(4000, 7));
    assert.ok(garbage.status === 400 || garbage.status === 415, `garbage Ogg: ${garbage.status}`);
  });

  it('raw audio needs its rate and channels; unknown codecs are refused with the reason', async () => {
    for (const m of [{ ...RAW, sampleRate: '' }, { ...RAW, channels: '3' }, { ...RAW, codec: 'mp3' }, { ...RAW, sampleRate: '4000' }]) {
      const res = await create(key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(m) });
      assert.equal(res.status, 400, JSON.stringify(m));
      assert.match(((await res.json()) as { error: string }).error, /codec|sampleRate|channels/);
    }
  });

  it('termination: DELETE ends an upload in flight; nothing is filed', async () => {
    const created = await create(key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
    const id = recordingIdOf(created.headers.get('location')!);
    assert.equal((await patch(key, id, 0, Buffer.alloc(8000, 0xff))).status, 204);
    const other = await ingestKey(s, 'someone-else');
    assert.equal((await fetch(`${s.url}/api/v1/uploads/${id}`, { method: 'DELETE', headers: tusHeaders(other) })).status, 404);
    assert.equal((await fetch(`${s.url}/api/v1/uploads/${id}`, { method: 'DELETE', headers: tusHeaders(key) })).status, 204);
    assert.equal((await tusHead(s.url, key, id)).status, 404);
    assert.equal(await s.archive.recordings.get(id), undefined);
    const ev = await s.archive.db.selectFrom('audit_events').select('action').where('object_id', '=', id).where('action', '=', 'ingest.terminated').execute();
    assert.equal(ev.length, 1);
  });

  it('a key revoked mid-call stops the call at its next PATCH', async () => {
    const k = await ingestKey(s, 'revoked-mid-call');
    const created = await create(k, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
    const id = recordingIdOf(created.headers.get('location')!);
    assert.equal((await patch(k, id, 0, Buffer.alloc(8000, 0xff))).status, 204);
    await s.archive.apiKeys.revoke(k.split('_')[1]!, { type: 'operator', id: 'test' });
    assert.equal((await patch(k, id, 8000, Buffer.alloc(8000, 0xff))).status, 401);
  });

  it('a key bound to address ranges works only from them', async () => {
    const { token: far } = await s.archive.apiKeys.create({ name: 'branch-office', scope: 'ingest', actor: { type: 'operator', id: 't' }, allow: ['10.0.0.0/8', '2001:db8::/32'] });
    const denied = await create(far, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
    assert.equal(denied.status, 403);
    const { token: near } = await s.archive.apiKeys.create({ name: 'local', scope: 'ingest', actor: { type: 'operator', id: 't' }, allow: ['127.0.0.0/8'] });
    assert.equal((await create(near, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) })).status, 201);
    await assert.rejects(s.archive.apiKeys.create({ name: 'x', scope: 'ingest', actor: { type: 'operator', id: 't' }, allow: ['10.0.0.0/33'] }), /prefix/);
    await assert.rejects(s.archive.apiKeys.create({ name: 'x', scope: 'ingest', actor: { type: 'operator', id: 't' }, allow: ['not-an-address'] }), /not an IP/);
  });

  it('a key over its request rate gets 429 with Retry-After', async () => {
    const { token } = await s.archive.apiKeys.create({ name: 'slow', scope: 'ingest', actor: { type: 'operator', id: 't' }, ratePerS: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) {
      const res = await fetch(`${s.url}/api/v1/uploads`, { method: 'OPTIONS', headers: tusHeaders(token) });
      statuses.push(res.status);
      if (res.status === 429) assert.ok(Number(res.headers.get('retry-after')) >= 1);
    }
    assert.ok(statuses.includes(204) && statuses.includes(429), statuses.join(','));
  });

  it('acknowledgements are group-committed: many concurrent PATCHes, far fewer journal flushes', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const c = await create(key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
      ids.push(recordingIdOf(c.headers.get('location')!));
    }
    const journal = s.running.journal;
    const before = journal ? { ...journal.stats } : null;
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(ids.map((id) => patch(key, id, round * 8000, Buffer.alloc(8000, 0xff))));
      assert.ok(results.every((r) => r.status === 204));
    }
    if (before && journal) {
      const records = journal.stats.records - before.records;
      const flushes = journal.stats.flushes - before.flushes;
      assert.ok(records >= 120 && flushes < records / 2, `${flushes} flushes for ${records} records`);
    } else {
      assert.fail('the running server exposes its journal for inspection');
    }
  });
});

describe('a live call whose audio ends mid-frame', () => {
  it('is filed as far as it is readable and flagged, not thrown away', async () => {
    const s = await startTestServer();
    try {
      const key = await ingestKey(s);
      const stereo = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 2, seconds: 1 });
      const cut = stereo.subarray(0, stereo.length - 1); // half a stereo frame at the end
      const created = await tusCreate(s.url, key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader({ ...RAW, channels: '2' }) });
      const id = recordingIdOf(created.headers.get('location')!);
      const res = await tusPatch(s.url, key, id, 0, cut, { 'upload-length': String(cut.length) });
      assert.equal(res.status, 204);
      const r = (await s.archive.recordings.get(id))!;
      assert.deepEqual(JSON.parse(r.flags), ['audio_ended_early']);
      assert.equal(r.plaintext_size, cut.length);
      assert.deepEqual(await decryptedAudio(s.archive, id), cut);
    } finally {
      await s.close();
    }
  });
});

describe('playing a raw G.711 call', () => {
  it('serves it as a WAV (header + samples) with exact ranges, which the WAV inspector accepts', async () => {
    const { enrollSupervisor, signIn } = await import('./helpers/archive.ts');
    const { inspectWav } = await import('../src/ingest/wav.ts');
    const s = await startTestServer();
    try {
      const key = await ingestKey(s);
      const audio = makeRawG711({ codec: 'pcma', sampleRate: 8000, channels: 1, seconds: 3 });
      const created = await tusCreate(s.url, key, { 'upload-length': String(audio.length), 'upload-metadata': metaHeader({ ...RAW, codec: 'pcma' }) }, audio);
      const id = recordingIdOf(created.headers.get('location')!);
      const admin = await signIn(s, await enrollSupervisor(s));
      const whole = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: admin.cookie } });
      assert.equal(whole.headers.get('content-type'), 'audio/wav');
      const wav = Buffer.from(await whole.arrayBuffer());
      const info = inspectWav(wav);
      assert.equal(info.codec, 'pcma');
      assert.equal(info.durationMs, 3000);
      assert.deepEqual(wav.subarray(wav.length - audio.length), audio);
      // An odd number of samples: the served file is still a valid WAV (no pad byte promised).
      const odd = audio.subarray(0, 8001);
      const oddCreated = await tusCreate(s.url, key, { 'upload-length': String(odd.length), 'upload-metadata': metaHeader({ ...RAW, codec: 'pcma' }) }, odd);
      const oddWav = Buffer.from(await (await fetch(`${s.url}/api/v1/recordings/${recordingIdOf(oddCreated.headers.get('location')!)}/audio`, { headers: { cookie: admin.cookie } })).arrayBuffer());
      assert.equal(inspectWav(oddWav).dataLength, 8001);
      for (const [a, b] of [[0, 9], [50, 70], [58, 100], [1000, 23_000]] as const) {
        const part = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: admin.cookie, range: `bytes=${a}-${b}` } });
        assert.equal(part.status, 206);
        assert.deepEqual(Buffer.from(await part.arrayBuffer()), wav.subarray(a, b + 1), `${a}-${b}`);
      }
    } finally {
      await s.close();
    }
  });
});

describe('journal rotation', () => {
  it('starts new journal files while calls stream, retires the old ones, and recovery still finds every byte', async () => {
    const s = await startTestServer({ CALLVAULT_JOURNAL_ROTATE_BYTES: String(64 * 1024) });
    const key = await ingestKey(s);
    const calls = await Promise.all([1, 2, 3].map(async (n) => {
      const created = await tusCreate(s.url, key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
      return { id: recordingIdOf(created.headers.get('location')!), audio: makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 60, hz: 300 * n }), sent: 0 };
    }));
    try {
    for (let round = 0; round < 40; round++) {
      await Promise.all(calls.map(async (c) => {
        const piece = c.audio.subarray(c.sent, c.sent + 9000);
        const res = await tusPatch(s.url, key, c.id, c.sent, piece);
        assert.equal(res.status, 204);
        c.sent += piece.length;
      }));
      await sleep(5); // let a rotation run between rounds
    }
    assert.ok(s.running.journal.generation > 2, `generation ${s.running.journal.generation}: the journal rotated`);
    if (s.running.journal.kind === 'file') {
      const files = await readdir(join(s.dir, 'ingest'));
      assert.ok(files.filter((f) => f.startsWith('journal-')).length <= 2, `old files retired: ${files.join(', ')}`);
    } else {
      const gens = await s.archive.db.selectFrom('ingest_journal').select('gen').distinct().execute();
      assert.ok(gens.length <= 2, `old generations retired: ${gens.map((g) => g.gen).join(', ')}`);
    }
    } finally {
      await s.running.close();
      await s.archive.close();
    }
    const { archive, close } = await reopenServer(s.dir);
    try {
      for (const c of calls) {
        const r = (await archive.recordings.get(c.id))!;
        assert.equal(r.plaintext_size, c.sent);
        assert.deepEqual(await decryptedAudio(archive, c.id), c.audio.subarray(0, c.sent));
      }
    } finally {
      await close();
      await releaseTestArchive(s.dir);
      await rm(join(s.dir, '..'), { recursive: true, force: true });
    }
  });
});

describe('callvault simulate against callvault', () => {
  it('streams live calls through the real command; every one is filed with its duration', async () => {
    const { runCli } = await import('./helpers/cli.ts');
    const s = await startTestServer();
    try {
      const key = await ingestKey(s);
      const res = await runCli(['simulate', '--url', s.url, '--key', key, '--calls', '6', '--concurrency', '6', '--duration', '3', '--care-unit', 'sim-unit'], { timeoutMs: 60_000 });
      assert.equal(res.code, 0, res.stdout + res.stderr);
      assert.match(res.stdout + res.stderr, /6 completed, 0 failed/);
      const rows = await s.archive.db.selectFrom('recordings').selectAll().where('care_unit', '=', 'sim-unit').execute();
      assert.equal(rows.length, 6);
      for (const r of rows) {
        assert.equal(r.codec, 'pcmu');
        assert.deepEqual(JSON.parse(r.flags), []);
        assert.ok(r.duration_ms >= 2500 && r.duration_ms <= 3500, `duration ${r.duration_ms}`);
      }
    } finally {
      await s.close();
    }
  });
});

describe('a journal altered on disk', () => {
  it('is caught by the records\' seals: the call is filed up to the altered record and flagged', async () => {
    const s = await startTestServer();
    const key = await ingestKey(s);
    const audio = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 3 });
    const created = await tusCreate(s.url, key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
    const id = recordingIdOf(created.headers.get('location')!);
    for (let i = 0; i < 3; i++) {
      const res = await tusPatch(s.url, key, id, i * 8000, audio.subarray(i * 8000, (i + 1) * 8000));
      assert.equal(res.status, 204);
    }
    const kind = s.running.journal.kind;
    await s.running.close();
    // Someone with write access swaps the 2nd and 3rd records' bytes, keeping the frames valid:
    // in the journal file (embedded default) or the journal table (PostgreSQL).
    if (kind === 'file') {
      await s.archive.close();
      const dir = join(s.dir, 'ingest');
      const file = join(dir, (await readdir(dir)).find((f) => f.startsWith('journal-'))!);
      const { records } = decodeRecords(await readFile(file));
      const deltas = records.filter((r) => r.type === RECORD.delta);
      assert.equal(deltas.length, 3);
      const forged = records.map((r) => (r === deltas[1] ? { ...r, payload: deltas[2]!.payload } : r));
      await writeFile(file, Buffer.concat(forged.map(encodeRecord)));
    } else {
      const rows = await s.archive.db.selectFrom('ingest_journal').select(['seq', 'record']).where('upload_id', '=', id).orderBy('seq').execute();
      const records = rows.map((r) => ({ seq: r.seq, record: decodeRecords(Buffer.from(r.record)).records[0]! }));
      const deltas = records.filter((r) => r.record.type === RECORD.delta);
      assert.equal(deltas.length, 3);
      await s.archive.db.updateTable('ingest_journal').set({ record: encodeRecord({ ...deltas[1]!.record, payload: deltas[2]!.record.payload }) })
        .where('seq', '=', deltas[1]!.seq).execute();
      await s.archive.close();
    }
    const { archive, close } = await reopenServer(s.dir);
    try {
      const r = (await archive.recordings.get(id))!;
      assert.deepEqual(JSON.parse(r.flags).sort(), ['interrupted_by_shutdown', 'journal_damaged']);
      assert.equal(r.plaintext_size, 8000, 'filed up to the altered record, not a byte of forged order');
      assert.deepEqual(await decryptedAudio(archive, id), audio.subarray(0, 8000));
    } finally {
      await close();
      await releaseTestArchive(s.dir);
      await rm(join(s.dir, '..'), { recursive: true, force: true });
    }
  });
});
