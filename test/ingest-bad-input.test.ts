// The tus endpoint (/api/v1/uploads) against bad input: each refusal is a clear 4xx with a JSON
// {error} body, and nothing is stored half-way: no catalog row, no committed blob, and for a
// discarded upload no temporary left behind. Also: interrupted, abandoned and crashed uploads.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tus from 'tus-js-client';
import type { Archive } from '../src/cli/archive.ts';
import { initTestArchive, openTestArchive, releaseTestArchivesUnder, TEST_CATALOG } from './helpers/catalog.ts';
import { makeWav, sineWaveS16 } from '../src/ingest/wav.ts';
import { enrollSupervisor, ingestKey, signIn, startTestServer, type TestServer, decryptedAudio, reopenServer } from './helpers/archive.ts';
import { startServing, tempRoot, waitForHttp } from './helpers/cli.ts';
import { metaHeader, OCTETS, recordingIdOf, tusCreate, tusHead, tusHeaders, tusPatch, tusUpload } from './helpers/tus.ts';

const META = { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'unit-a' };
const b64 = (v: string | Uint8Array) => Buffer.from(v).toString('base64');

function monoWav(seconds: number, hz = 440): Buffer {
  return makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, samples: sineWaveS16({ sampleRate: 8000, seconds, hz }) });
}

// ---------------------------------------------------------------------------------------------
// Raw tus requests, so each header can be wrong on purpose.

interface Server {
  url: string;
}

function create(s: Server, key: string | null, opts: { length?: number | string; meta?: string | null; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Response> {
  const meta = opts.meta === undefined ? metaHeader(META) : opts.meta;
  return tusCreate(s.url, key, {
    ...(opts.length === undefined ? {} : { 'upload-length': String(opts.length) }),
    ...(meta === null ? {} : { 'upload-metadata': meta }),
    ...opts.headers,
  }, opts.body);
}

async function createOk(s: Server, key: string, length: number, meta = metaHeader(META)): Promise<string> {
  const res = await create(s, key, { length, meta });
  assert.equal(res.status, 201, await res.clone().text());
  assert.equal(res.headers.get('upload-offset'), '0');
  return recordingIdOf(res.headers.get('location')!);
}

const patch = (s: Server, key: string | null, id: string, offset: number | string, body: Uint8Array, headers: Record<string, string> = {}) => tusPatch(s.url, key, id, offset, body, headers);
const head = (s: Server, key: string | null, id: string, headers: Record<string, string> = {}) => tusHead(s.url, key, id, headers);

async function offsetOf(s: Server, key: string, id: string): Promise<number> {
  const res = await head(s, key, id);
  assert.equal(res.status, 200);
  return Number(res.headers.get('upload-offset'));
}

/** Asserts a 4xx with a JSON {error: string} body; returns the message. */
async function jsonError(res: Response, status: number, pattern?: RegExp): Promise<string> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { error?: unknown };
  assert.equal(typeof body.error, 'string', text);
  assert.ok((body.error as string).length > 0);
  if (pattern) assert.match(body.error as string, pattern);
  return body.error as string;
}

// ---------------------------------------------------------------------------------------------
// What is stored.

interface Snapshot {
  rows: number;
  blobs: string[];
  tmp: string[];
}

async function listBlobs(a: Archive): Promise<string[]> {
  const out: string[] = [];
  for await (const k of a.store.list()) out.push(k);
  return out;
}

const tmpDir = (dataDir: string) => join(dataDir, 'blobs', '.tmp');

/** Every committed object, walked on disk: all of DATA/blobs except .tmp. */
async function committedFiles(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'blobs');
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && !join(e.parentPath, e.name).startsWith(tmpDir(dataDir))).map((e) => e.name).sort();
}

async function snapshot(a: Archive, dataDir: string): Promise<Snapshot> {
  const { count } = await a.db.selectFrom('recordings').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
  const blobs = await listBlobs(a);
  assert.deepEqual(await committedFiles(dataDir), [...blobs].sort(), 'the blob store lists every file under blobs/');
  return { rows: Number(count), blobs, tmp: (await readdir(tmpDir(dataDir))).sort() };
}

/** No row added, no committed blob added; with `tmp`, no temporary left beyond those there before. */
async function assertNothingStored(a: Archive, dataDir: string, before: Snapshot, opts: { tmp: boolean }): Promise<void> {
  const now = await snapshot(a, dataDir);
  assert.equal(now.rows, before.rows, 'a recordings row was added');
  assert.deepEqual(now.blobs, before.blobs, 'a blob was committed');
  if (opts.tmp) assert.deepEqual(now.tmp, before.tmp, 'a temporary file was left behind');
}

async function rejectedEvents(a: Archive, id: string) {
  return a.db.selectFrom('audit_events').selectAll().where('action', '=', 'ingest.rejected').where('object_id', '=', id).execute();
}

/** Resumes an upload at `uploadUrl` with the real tus client: HEAD for the offset, then PATCHes. */
function tusResume(uploadUrl: string, key: string, data: Buffer, chunkSize = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      uploadUrl,
      headers: { authorization: `Bearer ${key}` },
      chunkSize,
      retryDelays: [],
      onError: reject,
      onSuccess: () => resolve(upload.url!),
    });
    upload.start();
  });
}

/** A request over node:http with a given agent (to control which connection it uses). */
function rawRequest(url: string, agent: Agent, method: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers: { ...headers, 'content-length': String(body?.length ?? 0) } });
    req.on('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms); })])
    .finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------

/**
 * The text of log or audit records without the fields the server makes itself (times in
 * milliseconds, process ids, request counters, hashes) nor the random ids it makes (uploads and
 * recordings, 32 hex digits; API keys, 16): a short run of digits such as 12345 turns up in those
 * by chance, and would be taken for a number the caller sent.
 */
function withoutServerMade(records: object[]): string {
  const serverMade = new Set(['time', 'pid', 'ms', 'reqId', 'at', 'seq', 'request_id', 'leaf_hash']);
  const randomId = /^(?:[0-9a-f]{16}){1,2}$/;
  return records.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).filter(([k, v]) => !serverMade.has(k) && !(typeof v === 'string' && randomId.test(v)))))).join('\n');
}

/** The server's log lines as records. */
function logRecords(logs: string[]): object[] {
  return logs.join('').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as object);
}

describe('tus ingest refuses bad input and stores nothing half-way', () => {
  let s: TestServer;
  let key: string;
  let base: Snapshot;
  const snap = () => snapshot(s.archive, s.dir);
  const nothingStored = (before: Snapshot, tmp = true) => assertNothingStored(s.archive, s.dir, before, { tmp });

  before(async () => {
    s = await startTestServer();
    key = await ingestKey(s);
  });
  after(async () => {
    // Belt and braces: a leaked connection must not hang the rest of the suite (tested on its own below).
    s.running.app.server.closeAllConnections();
    await s.close();
  });

  it('a WAV with bad magic: 400 at the first PATCH, the upload discarded and audited', async () => {
    base = await snap();
    const wav = monoWav(0.5);
    wav.write('JUNK', 0, 'latin1');
    const id = await createOk(s, key, wav.length);
    assert.equal((await snap()).tmp.length, base.tmp.length + 1, 'a live upload has a temporary');
    await jsonError(await patch(s, key, id, 0, wav), 400, /RIFF/);
    assert.equal((await head(s, key, id)).status, 404);
    assert.equal((await rejectedEvents(s.archive, id)).length, 1);
    await nothingStored(base);
  });

  it('a truncated WAV (fewer bytes than the RIFF header declares, Upload-Length the short length): 400 at the last byte', async () => {
    const before = await snap();
    const wav = monoWav(1).subarray(0, 10_000);
    const id = await createOk(s, key, wav.length);
    const first = await patch(s, key, id, 0, wav.subarray(0, 6000));
    assert.equal(first.status, 204);
    assert.equal(first.headers.get('upload-offset'), '6000');
    await jsonError(await patch(s, key, id, 6000, wav.subarray(6000)), 400, /truncated/);
    assert.equal((await head(s, key, id)).status, 404);
    const events = await rejectedEvents(s.archive, id);
    assert.equal(events.length, 1);
    assert.match(events[0]!.details ?? '', /truncated/);
    await nothingStored(before);
  });

  it('8-bit PCM is a valid WAV in an unsupported encoding: 415, discarded', async () => {
    const before = await snap();
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(4000).fill(0x80) });
    assert.equal(wav.readUInt16LE(20), 7);
    wav.writeUInt16LE(1, 20); // format tag: PCM, with 8 bits per sample
    const id = await createOk(s, key, wav.length);
    await jsonError(await patch(s, key, id, 0, wav), 415, /8-bit PCM/);
    assert.equal((await head(s, key, id)).status, 404);
    await nothingStored(before);
  });

  it('stereo 16-bit PCM is accepted (positive control) and filed as two channels', async () => {
    const before = await snap();
    const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 2, samples: sineWaveS16({ sampleRate: 8000, seconds: 2, hz: 300, channels: 2 }) });
    const id = recordingIdOf(await tusUpload(s.url, key, wav, META, { chunkSize: 20_000 }));
    const row = await s.archive.recordings.get(id);
    assert.ok(row);
    assert.equal(row.channels, 2);
    assert.equal(row.codec, 'pcm_s16le');
    assert.equal(row.duration_ms, 2000);
    assert.equal(row.plaintext_size, wav.length);
    const now = await snap();
    assert.equal(now.rows, before.rows + 1);
    assert.deepEqual(now.blobs.filter((b) => !before.blobs.includes(b)), [row.blob_key]);
    assert.deepEqual(now.tmp, before.tmp);
  });

  it('a PATCH with the wrong Content-Type: 415, and the upload stays intact', async () => {
    const before = await snap();
    const wav = monoWav(0.5);
    const id = await createOk(s, key, wav.length);
    for (const type of ['text/plain', 'application/octet-stream', 'audio/wav', 'multipart/form-data; boundary=x']) {
      await jsonError(await patch(s, key, id, 0, wav.subarray(0, 1000), { 'content-type': type }), 415);
    }
    const noType = await fetch(`${s.url}/api/v1/uploads/${id}`, { method: 'PATCH', headers: tusHeaders(key, { 'upload-offset': '0' }), body: wav.subarray(0, 1000) });
    await jsonError(noType, 415);
    assert.equal(await offsetOf(s, key, id), 0);
    await nothingStored(before, false);
    // The same bytes with the right type go through: the refusals left the upload as it was.
    const ok = await patch(s, key, id, 0, wav);
    assert.equal(ok.status, 204);
    assert.equal((await snap()).rows, before.rows + 1);
  });

  it('a PATCH sent as application/json is a wrong Content-Type too: 415, not a JSON parse error', async () => {
    const before = await snap();
    const wav = monoWav(0.5);
    const id = await createOk(s, key, wav.length);
    await jsonError(await patch(s, key, id, 0, wav.subarray(0, 1000), { 'content-type': 'application/json' }), 415, /Content-Type/);
    assert.equal(await offsetOf(s, key, id), 0);
    await nothingStored(before, false);
  });

  it('a missing or wrong Tus-Resumable: 412 with Tus-Version, on creation, HEAD and PATCH', async () => {
    const before = await snap();
    const wav = monoWav(0.5);
    for (const version of [undefined, '0.2.2', '1.0']) {
      const headers: Record<string, string> = { authorization: `Bearer ${key}`, 'upload-length': String(wav.length), 'upload-metadata': metaHeader(META) };
      if (version) headers['tus-resumable'] = version;
      const res = await fetch(`${s.url}/api/v1/uploads`, { method: 'POST', headers });
      assert.equal(res.headers.get('tus-version'), '1.0.0');
      await jsonError(res, 412, /Tus-Resumable/);
    }
    await nothingStored(before);
    const id = await createOk(s, key, wav.length);
    const noTus = await fetch(`${s.url}/api/v1/uploads/${id}`, {
      method: 'PATCH', headers: { authorization: `Bearer ${key}`, 'upload-offset': '0', 'content-type': OCTETS }, body: wav,
    });
    await jsonError(noTus, 412);
    const headRes = await fetch(`${s.url}/api/v1/uploads/${id}`, { method: 'HEAD', headers: { authorization: `Bearer ${key}` } });
    assert.equal(headRes.status, 412);
    assert.equal(await offsetOf(s, key, id), 0);
    await nothingStored(before, false);
  });

  it('a bad Upload-Offset: 409 with the server\'s Upload-Offset; repeating an applied offset is 409 too', async () => {
    const before = await snap();
    const wav = monoWav(0.5);
    const id = await createOk(s, key, wav.length);
    let res = await patch(s, key, id, 5, wav.subarray(5, 1000));
    assert.equal(res.headers.get('upload-offset'), '0');
    await jsonError(res, 409);
    res = await patch(s, key, id, 0, wav.subarray(0, 1000));
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('upload-offset'), '1000');
    res = await patch(s, key, id, 0, wav.subarray(0, 1000));
    assert.equal(res.headers.get('upload-offset'), '1000');
    await jsonError(res, 409);
    res = await patch(s, key, id, 2000, wav.subarray(2000, 3000));
    assert.equal(res.headers.get('upload-offset'), '1000');
    await jsonError(res, 409);
    for (const bad of ['-1', 'abc', '1e3', '']) await jsonError(await patch(s, key, id, bad, wav.subarray(1000, 2000)), 400, /Upload-Offset/);
    assert.equal(await offsetOf(s, key, id), 1000);
    await nothingStored(before, false);
    // A PATCH to a finished upload is a 409 as well, with its full length as the offset.
    assert.equal((await patch(s, key, id, 1000, wav.subarray(1000))).status, 204);
    res = await patch(s, key, id, 0, wav);
    assert.equal(res.headers.get('upload-offset'), String(wav.length));
    await jsonError(res, 409);
    assert.equal((await snap()).rows, before.rows + 1);
  });

  it('a bad Upload-Length, Upload-Defer-Length or a body on creation: 400, nothing created', async () => {
    const before = await snap();
    for (const length of [undefined, '-5', 'ten', '1.5', '99999999999999999']) {
      await jsonError(await create(s, key, { length }), 400, /Upload-Length/);
    }
    for (const deferred of ['0', '2', 'yes']) {
      await jsonError(await create(s, key, { headers: { 'upload-defer-length': deferred } }), 400, /Upload-Defer-Length/);
    }
    await jsonError(await create(s, key, { length: 100, headers: { 'upload-defer-length': '1' } }), 400, /exactly one/);
    await nothingStored(before);
  });

  it('an empty upload (Upload-Length 0) is refused at creation: a tus client would take it for finished', async () => {
    const before = await snap();
    await jsonError(await create(s, key, { length: 0 }), 400, /Upload-Length is 0/);
    // A live call that ends before any byte: declaring length 0 on its PATCH refuses it too.
    const created = await create(s, key, { headers: { 'upload-defer-length': '1' } });
    assert.equal(created.status, 201);
    const id = recordingIdOf(created.headers.get('location')!);
    await jsonError(await patch(s, key, id, 0, Buffer.alloc(0), { 'upload-length': '0' }), 400);
    assert.equal((await head(s, key, id)).status, 404);
    await nothingStored(before);
  });

  it('a PATCH body longer than Upload-Length: 413, nothing of it applied, the upload goes on from its offset', async () => {
    const wav = monoWav(0.5);
    const id = await createOk(s, key, wav.length);
    assert.equal((await patch(s, key, id, 0, wav.subarray(0, 1000))).status, 204);
    const refused = await patch(s, key, id, 1000, Buffer.concat([wav.subarray(1000), Buffer.alloc(10)]));
    assert.equal(refused.headers.get('upload-offset'), '1000');
    await jsonError(refused, 413, /beyond Upload-Length .* keeps the 1000 bytes/);
    const h = await head(s, key, id);
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('upload-offset'), '1000', 'what was acknowledged before stays');
    // Sent chunked (no Content-Length), the body is refused at the piece that overruns: what
    // came before that piece is kept, and HEAD says where to go on.
    const chunked = await new Promise<{ status: number; offset: unknown }>((resolve, reject) => {
      const req = request(`${s.url}/api/v1/uploads/${id}`, { method: 'PATCH', headers: tusHeaders(key, { 'upload-offset': '1000', 'content-type': OCTETS, 'transfer-encoding': 'chunked' }) });
      req.on('response', (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode!, offset: res.headers['upload-offset'] })); });
      req.on('error', reject);
      req.write(wav.subarray(1000, 2000));
      setTimeout(() => req.end(Buffer.concat([wav.subarray(2000), Buffer.alloc(10)])), 200);
    });
    assert.equal(chunked.status, 413);
    const kept = Number((await head(s, key, id)).headers.get('upload-offset'));
    assert.equal(String(chunked.offset), String(kept));
    assert.ok(kept >= 1000 && kept < wav.length, `kept ${kept}`);
    assert.equal((await patch(s, key, id, kept, wav.subarray(kept))).status, 204);
    const filed = await s.archive.recordings.get(id);
    assert.equal(filed?.plaintext_size, wav.length);
    assert.deepEqual(await rejectedEvents(s.archive, id), []);
    // On creation, a body longer than Upload-Length is refused before anything is made.
    const snapAfter = await snap();
    await jsonError(await create(s, key, { length: 100, body: monoWav(0.1), headers: { 'content-type': OCTETS } }), 413, /longer than Upload-Length/);
    await nothingStored(snapAfter);
  });

  it('an unknown metadata key: 400 naming the key', async () => {
    const before = await snap();
    const msg = await jsonError(await create(s, key, { length: 1000, meta: metaHeader({ ...META, patientName: 'Anna' }) }), 400, /unknown key/);
    assert.match(msg, /"patientName"/);
    assert.doesNotMatch(msg, /Anna/);
    await nothingStored(before);
  });

  it('malformed metadata: 400 with the reason', async () => {
    const before = await snap();
    const ok = { startedAt: b64(META.startedAt), direction: b64(META.direction), careUnit: b64(META.careUnit) };
    const cases: Array<[string, string | null, RegExp]> = [
      ['no Upload-Metadata at all', null, /required/],
      ['empty Upload-Metadata', '', /required/],
      ['characters outside base64', `startedAt ${ok.startedAt},direction ${ok.direction},careUnit dW5p!dA==`, /malformed/],
      ['a base64 value that decodes to nothing', `startedAt ${ok.startedAt},direction ${ok.direction},careUnit A`, /"careUnit" is not valid base64/],
      ['a value that is not UTF-8', `startedAt ${ok.startedAt},direction ${ok.direction},careUnit ${b64(Uint8Array.of(0xff, 0xfe, 0x41))}`, /not UTF-8/],
      ['a duplicate key', `startedAt ${ok.startedAt},direction ${ok.direction},careUnit ${ok.careUnit},careUnit ${b64('unit-b')}`, /"careUnit" appears twice/],
      ['a key named __proto__', `startedAt ${ok.startedAt},direction ${ok.direction},careUnit ${ok.careUnit},__proto__ ${b64('x')}`, /unknown key\(s\) "__proto__"/],
      ['missing startedAt', `direction ${ok.direction},careUnit ${ok.careUnit}`, /"startedAt" is required/],
      ['missing direction', `startedAt ${ok.startedAt},careUnit ${ok.careUnit}`, /"direction"/],
      ['missing careUnit', `startedAt ${ok.startedAt},direction ${ok.direction}`, /"careUnit" is required/],
      ['a start time without a time zone', metaHeader({ ...META, startedAt: '2026-11-25T08:00:00' }), /"startedAt"/],
      ['a start time that does not exist', metaHeader({ ...META, startedAt: '2026-13-45T08:00:00Z' }), /"startedAt"/],
      ['a day that the month does not have', metaHeader({ ...META, startedAt: '2026-02-30T08:00:00Z' }), /"startedAt" is not a real date-time/],
      ['the 29th of February in a common year', metaHeader({ ...META, startedAt: '2026-02-29T08:00:00Z' }), /"startedAt" is not a real date-time/],
      ['a direction that is neither', metaHeader({ ...META, direction: 'sideways' }), /"direction" must be inbound or outbound/],
      ['a care unit with markup', metaHeader({ ...META, careUnit: '<script>' }), /"careUnit"/],
    ];
    for (const [what, meta, reason] of cases) {
      await jsonError(await create(s, key, { length: 1000, meta }), 400, reason).catch((e: Error) => {
        throw new Error(`${what}: ${e.message}`);
      });
    }
    await nothingStored(before);
  });

  it('a bad phone number: 400 that does not repeat the number (nor does the log or the audit trail)', async () => {
    const before = await snap();
    for (const field of ['caller', 'callee']) {
      for (const number of ['12345', '+46 70 12', '0701234', '+0701234567', '070-123 45 67 89 01 23 45', '46701234567x']) {
        const msg = await jsonError(await create(s, key, { length: 1000, meta: metaHeader({ ...META, [field]: number }) }), 400, new RegExp(`"${field}"`));
        const digits = number.replace(/\D/g, '');
        assert.ok(!msg.includes(number) && !msg.includes(digits) && !msg.includes(number.replace(/[\s-]/g, '')), `${field} ${number}: ${msg}`);
        const audit = await s.archive.db.selectFrom('audit_events').selectAll().execute();
        assert.ok(!withoutServerMade(audit).includes(digits), `the audit trail holds ${number}`);
        assert.ok(!withoutServerMade(logRecords(s.logs)).includes(digits), `the log holds ${number}`);
      }
    }
    await nothingStored(before);
  });

  it('filename and filetype are accepted from tus clients and stored nowhere', async () => {
    const before = await snap();
    const filename = 'call-0708765432-2026-11-25.wav';
    const wav = monoWav(1);
    const id = recordingIdOf(await tusUpload(s.url, key, wav, { ...META, filename, filetype: 'audio/x-wav' }));
    const row = await s.archive.recordings.get(id);
    assert.ok(row);
    assert.equal((await snap()).rows, before.rows + 1);
    const text = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : String(v));
    const rowText = Object.values(row).map(text).join('\n');
    const auditText = (await s.archive.db.selectFrom('audit_events').selectAll().execute()).map((e) => Object.values(e).map(text).join('\n')).join('\n');
    for (const needle of [filename, '0708765432', 'audio/x-wav']) {
      assert.ok(!rowText.includes(needle), `the catalog row holds ${needle}`);
      assert.ok(!auditText.includes(needle), `the audit table holds ${needle}`);
      assert.ok(!s.logs.join('').includes(needle), `the log holds ${needle}`);
    }
  });

  it('a bad API key, a malformed Authorization header or a revoked key: 401', async () => {
    const before = await snap();
    const good = await ingestKey(s, 'auth-test');
    const id = await createOk(s, good, 1000);
    const keyId = good.split('_')[1]!;
    const tampered = good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A');
    const wrongAuth = [
      `Bearer cvk_${'0'.repeat(16)}_${'A'.repeat(43)}`,
      `Bearer ${tampered}`,
      'Bearer cvk_short',
      `Basic ${b64('admin:admin')}`,
      `Bearer ${good} extra`,
      'Bearer',
      good,
    ];
    for (const authorization of wrongAuth) {
      const headers = { authorization };
      await jsonError(await create(s, null, { length: 1000, headers }), 401);
      await jsonError(await patch(s, null, id, 0, Buffer.alloc(10), headers), 401);
      assert.equal((await head(s, null, id, headers)).status, 401);
    }
    await jsonError(await create(s, null, { length: 1000 }), 401);
    // RFC 9110: the scheme is case-insensitive and one or more spaces may follow it.
    for (const authorization of [`bearer ${good}`, `BEARER  ${good}`]) {
      assert.equal((await head(s, null, id, { authorization })).status, 200, authorization);
    }
    assert.equal(await s.archive.apiKeys.revoke(keyId, { type: 'operator', id: 'test' }), true);
    const revoked = await create(s, good, { length: 1000 });
    assert.equal(revoked.headers.get('www-authenticate'), 'Bearer');
    await jsonError(revoked, 401);
    const denied = await s.archive.db.selectFrom('audit_events').select('seq').where('action', '=', 'apikey.denied').execute();
    assert.ok(denied.length >= wrongAuth.length * 3);
    await nothingStored(before, false);
  });

  it('a key revoked mid-upload: the next PATCH is 401 and nothing is filed', async () => {
    const before = await snap();
    const k = await ingestKey(s, 'revoked-mid-upload');
    const wav = monoWav(1);
    const id = await createOk(s, k, wav.length);
    assert.equal((await patch(s, k, id, 0, wav.subarray(0, 8000))).status, 204);
    assert.equal(await s.archive.apiKeys.revoke(k.split('_')[1]!, { type: 'operator', id: 'test' }), true);
    await jsonError(await patch(s, k, id, 8000, wav.subarray(8000)), 401);
    assert.equal((await head(s, k, id)).status, 401);
    await nothingStored(before, false);
  });

  it("another key's upload is 404, and its bytes are untouched", async () => {
    const before = await snap();
    const mine = await ingestKey(s, 'owner');
    const theirs = await ingestKey(s, 'intruder');
    const wav = monoWav(1);
    const id = await createOk(s, mine, wav.length);
    assert.equal((await patch(s, mine, id, 0, wav.subarray(0, 4000))).status, 204);
    assert.equal((await head(s, theirs, id)).status, 404);
    await jsonError(await patch(s, theirs, id, 4000, wav.subarray(4000)), 404);
    await jsonError(await patch(s, theirs, id, 0, wav), 404);
    assert.equal(await offsetOf(s, mine, id), 4000);
    await nothingStored(before, false);
    assert.equal((await patch(s, mine, id, 4000, wav.subarray(4000))).status, 204);
    assert.equal((await head(s, theirs, id)).status, 404, 'nor can it see the finished recording');
  });

  it('a client that disconnects mid-PATCH: the offset is at most what was sent, and the upload resumes to a correct recording', async () => {
    const before = await snap();
    const wav = monoWav(20, 523);
    const id = await createOk(s, key, wav.length);
    const sent = 150_000;
    const req = request(`${s.url}/api/v1/uploads/${id}`, {
      method: 'PATCH', agent: false,
      headers: tusHeaders(key, { 'upload-offset': '0', 'content-type': OCTETS, 'content-length': String(wav.length) }),
    });
    req.on('error', () => undefined); // the disconnect is the point
    req.write(wav.subarray(0, sent));
    for (let i = 0; i < 100 && (await offsetOf(s, key, id)) === 0; i++) await sleep(20);
    req.destroy();
    // Once the server has noticed, an empty PATCH at the current offset is accepted (not 409 busy).
    let offset = -1;
    let accepted = false;
    for (let i = 0; i < 100 && !accepted; i++) {
      offset = await offsetOf(s, key, id);
      const probe = await patch(s, key, id, offset, Buffer.alloc(0));
      await probe.arrayBuffer();
      accepted = probe.status === 204;
      if (!accepted) {
        assert.equal(probe.status, 409);
        await sleep(20);
      }
    }
    assert.ok(accepted, 'the upload never became free for the next PATCH');
    // A client that goes away is no fault of the server: no internal error is logged for it.
    assert.ok(!s.logs.join('').includes('internal error'), 'a disconnect logged as an internal error');
    assert.match(s.logs.join(''), /the client went away/);
    assert.ok(offset > 0, 'the server kept none of the bytes it received');
    assert.ok(offset <= sent, `offset ${offset} is beyond the ${sent} bytes sent`);
    await nothingStored(before, false);

    await tusResume(`${s.url}/api/v1/uploads/${id}`, key, wav);
    const done = await head(s, key, id);
    assert.equal(done.headers.get('upload-offset'), String(wav.length));
    const row = await s.archive.recordings.get(id);
    assert.ok(row);
    assert.equal(row.duration_ms, 20_000);
    assert.equal((await snap()).rows, before.rows + 1);

    const session = await signIn(s, await enrollSupervisor(s));
    const audio = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
    assert.equal(audio.status, 200);
    assert.ok(Buffer.from(await audio.arrayBuffer()).equals(wav), 'the resumed recording is not the original audio');
  });

  for (const [what, status, tooLong] of [['a bad WAV', 400, false], ['a body beyond Upload-Length', 413, true]] as const) {
    it(`a large PATCH refused mid-body (${what}) still answers ${status}, and frees its keep-alive connection for the next request`, async () => {
      const big = monoWav(40); // 1.28 MB, refused at its first bytes
      if (!tooLong) big.write('JUNK', 0, 'latin1');
      const before = await snap();
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const id = await createOk(s, key, tooLong ? 1000 : big.length);
        const url = `${s.url}/api/v1/uploads/${id}`;
        const res = await within(rawRequest(url, agent, 'PATCH', tusHeaders(key, { 'upload-offset': '0', 'content-type': OCTETS }), big), 5000, 'the refusal');
        assert.equal(res.status, status, res.body);
        assert.equal(typeof (JSON.parse(res.body) as { error: unknown }).error, 'string');
        // The same connection (maxSockets 1) must serve the next request. Bad audio discards
        // the upload; a body too long is refused whole and the upload stays as it was.
        const next = await within(rawRequest(url, agent, 'HEAD', tusHeaders(key)), 3000, 'an answer to the next request on the same keep-alive connection');
        assert.equal(next.status, tooLong ? 200 : 404);
        if (tooLong) assert.equal(next.headers['upload-offset'], '0');
        else await nothingStored(before);
      } finally {
        agent.destroy();
      }
    });
  }
});

describe('Upload-Length beyond CALLVAULT_MAX_UPLOAD_BYTES', () => {
  let s: TestServer;
  let key: string;
  before(async () => {
    s = await startTestServer({ CALLVAULT_MAX_UPLOAD_BYTES: '100000' });
    key = await ingestKey(s);
  });
  after(() => s.close());

  it('is refused with 413 at creation; the maximum itself is accepted and advertised', async () => {
    const before = await snapshot(s.archive, s.dir);
    for (const length of [100_001, 2 ** 40]) {
      const msg = await jsonError(await create(s, key, { length }), 413);
      assert.match(msg, /100000/);
    }
    await assertNothingStored(s.archive, s.dir, before, { tmp: true });
    await assert.rejects(tusUpload(s.url, key, monoWav(10), META), /413/);
    await assertNothingStored(s.archive, s.dir, before, { tmp: true });
    const options = await fetch(`${s.url}/api/v1/uploads`, { method: 'OPTIONS', headers: tusHeaders(key) });
    assert.equal(options.headers.get('tus-max-size'), '100000');
    assert.equal((await create(s, key, { length: 100_000 })).status, 201);
  });
});

describe('an abandoned upload', () => {
  let s: TestServer;
  let key: string;
  before(async () => {
    s = await startTestServer({ CALLVAULT_UPLOAD_IDLE_SECONDS: '1' });
    key = await ingestKey(s);
  });
  after(() => s.close());

  it('is filed as it stands after the idle time, flagged abandoned; one with no usable audio is dropped', async () => {
    const wav = monoWav(10);
    const stale = await createOk(s, key, wav.length);
    assert.equal((await patch(s, key, stale, 0, wav.subarray(0, 100_000))).status, 204);
    const empty = await createOk(s, key, wav.length);
    assert.equal((await readdir(tmpDir(s.dir))).length, 2);
    await sleep(1300);
    const fresh = await createOk(s, key, wav.length); // not idle yet: the control
    assert.equal(await s.running.uploads.sweep(), 2);
    const filed = await s.archive.recordings.get(stale);
    assert.ok(filed, 'the abandoned call was filed');
    assert.deepEqual(JSON.parse(filed.flags), ['abandoned']);
    assert.equal(filed.plaintext_size, 100_000);
    assert.ok(filed.duration_ms > 6000 && filed.duration_ms < 6300, `duration ${filed.duration_ms}`);
    const expired = await s.archive.db.selectFrom('audit_events').selectAll().where('object_id', '=', stale).where('action', '=', 'ingest.expired').execute();
    assert.equal(expired.length, 1);
    // Its client learns it is over (tus expiration: 410 Gone), not that it is complete: a tus
    // client that reads HEAD's offset equal to its length would take the call for stored whole.
    await jsonError(await patch(s, key, stale, 100_000, wav.subarray(100_000)), 410, /expired/);
    assert.equal((await head(s, key, stale)).status, 410);
    assert.equal((await head(s, key, empty)).status, 404);
    assert.match((await rejectedEvents(s.archive, empty))[0]!.details ?? '', /no usable audio/);
    assert.equal((await head(s, key, fresh)).status, 200);
    assert.equal((await readdir(tmpDir(s.dir))).length, 1, 'only the fresh upload has a temporary');
  });

  it('is filed too when its PATCH stalls: the client stays connected but sends nothing for longer than the idle time', async () => {
    const wav = monoWav(10);
    const id = await createOk(s, key, wav.length);
    const req = request(`${s.url}/api/v1/uploads/${id}`, {
      method: 'PATCH', agent: false,
      headers: tusHeaders(key, { 'upload-offset': '0', 'content-type': OCTETS, 'content-length': String(wav.length) }),
    });
    req.on('error', () => undefined);
    req.write(wav.subarray(0, 10_000));
    try {
      for (let i = 0; i < 100 && (await offsetOf(s, key, id)) < 10_000; i++) await sleep(20);
      assert.equal(await offsetOf(s, key, id), 10_000);
      await sleep(1300);
      assert.ok((await s.running.uploads.sweep()) >= 1, 'an upload idle for longer than CALLVAULT_UPLOAD_IDLE_SECONDS was kept because its request is still open');
      const filed = await s.archive.recordings.get(id);
      assert.deepEqual(JSON.parse(filed!.flags), ['abandoned']);
      assert.equal(filed!.plaintext_size, 10_000);
    } finally {
      req.destroy();
    }
  });
});

describe('a crash during an upload', () => {
  const reopen = reopenServer;


  /** After the restart: filed up to the acknowledged byte, flagged, audited, nothing left over; then resumable to the end. */
  async function assertRecoveredAndResumable(a: Archive, dir: string, url: string, key: string, id: string, wav: Buffer, acked: number, flag: string): Promise<void> {
    assert.deepEqual(await readdir(tmpDir(dir)), [], 'no temporary survives recovery');
    const r = await a.recordings.get(id);
    assert.ok(r, 'the interrupted upload was filed');
    assert.deepEqual(JSON.parse(r.flags), [flag]);
    assert.equal(r.plaintext_size, acked);
    assert.deepEqual(await decryptedAudio(a, id), wav.subarray(0, acked), 'every acknowledged byte is there and decrypts');
    const actions = (await a.db.selectFrom('audit_events').select('action').where('object_id', '=', id).execute()).map((e) => e.action);
    assert.ok(actions.includes('ingest.started') && actions.includes('ingest.recovered') && !actions.includes('ingest.completed'));
    const h = await head({ url }, key, id);
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('upload-offset'), String(acked));
    // The length its client declared at creation still stands: a tus client resumes as usual.
    assert.equal(h.headers.get('upload-length'), String(wav.length));
    assert.equal(h.headers.get('upload-defer-length'), null);
    const rest = await fetch(`${url}/api/v1/uploads/${id}`, {
      method: 'PATCH', body: wav.subarray(acked),
      headers: tusHeaders(key, { 'upload-offset': String(acked), 'content-type': OCTETS }),
    });
    assert.equal(rest.status, 204, await rest.text());
    const done = (await a.recordings.get(id))!;
    assert.deepEqual(JSON.parse(done.flags), ['resumed_after_crash']);
    assert.deepEqual(await decryptedAudio(a, id), wav, 'the same recording, continued to its end');
    assert.equal(done.duration_ms, 10_000);
    assert.deepEqual(await readdir(tmpDir(dir)), []);
    assert.equal((await listBlobs(a)).length, 1, 'the early copy was replaced, not kept');
  }

  it('closing the server mid-upload, then reopening: filed as interrupted, then continued by its client', async () => {
    const s = await startTestServer();
    const root = dirname(s.dir);
    try {
      const key = await ingestKey(s);
      const wav = monoWav(10);
      const id = await createOk(s, key, wav.length);
      const half = wav.length >> 1;
      assert.equal((await patch(s, key, id, 0, wav.subarray(0, half))).status, 204);
      await s.running.close();
      await s.archive.close();
      const again = await reopen(s.dir);
      try {
        assert.deepEqual(again.running.recovery.recovered.map((r) => r.id), [id]);
        await assertRecoveredAndResumable(again.archive, s.dir, again.url, key, id, wav, half, 'interrupted_by_shutdown');
      } finally {
        await again.close();
      }
    } finally {
      await releaseTestArchivesUnder(root);
      await rm(root, { recursive: true, force: true });
    }
  });

  it('killing the process mid-upload (SIGKILL), then starting again: every acknowledged byte is filed, flagged, and the call can go on', async () => {
    const root = await tempRoot('callvault-crash-');
    const dir = join(root, 'data');
    try {
      await initTestArchive(dir);
      const setup = await openTestArchive(dir);
      const { token: key } = await setup.apiKeys.create({ name: 'pbx', scope: 'ingest', actor: { type: 'operator', id: 'test' } });
      await setup.close();

      const child = await startServing(['serve', '--data', dir], { env: { CALLVAULT_LOG_LEVEL: 'warn' } });
      const { url } = child;
      const wav = monoWav(10);
      const half = (wav.length >> 1) + 1234; // not on a chunk boundary
      let id: string;
      try {
        await waitForHttp(`${url}/healthz`);
        id = await createOk({ url }, key, wav.length);
        const res = await patch({ url }, key, id, 0, wav.subarray(0, half));
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('upload-offset'), String(half));
        const partials = await readdir(tmpDir(dir));
        assert.equal(partials.length, 1);
        const partial = await readFile(join(tmpDir(dir), partials[0]!));
        // A WAV header's 'WAVEfmt ', not 'WAVE' alone: four given bytes turn up in 80 kB of ciphertext about once in 50,000 runs.
        assert.equal(partial.indexOf('WAVEfmt '), -1, 'plaintext in the temporary file');
        assert.equal(partial.indexOf(wav.subarray(1000, 1064)), -1, 'plaintext audio in the temporary file');
        // The journal files of the embedded default (on PostgreSQL the journal is a catalog table, scanned by at-rest.test.ts).
        for (const f of TEST_CATALOG === 'sqlite' ? await readdir(join(dir, 'ingest')) : []) {
          const j = await readFile(join(dir, 'ingest', f));
          assert.equal(j.indexOf('WAVEfmt '), -1, 'plaintext in the journal');
          assert.equal(j.indexOf(wav.subarray(100_000, 100_064)), -1, 'plaintext audio in the journal');
        }
      } finally {
        child.child.kill('SIGKILL');
      }
      const killed = await child.exited;
      assert.equal(killed.signal, 'SIGKILL');

      const again = await reopen(dir);
      try {
        await assertRecoveredAndResumable(again.archive, dir, again.url, key, id, wav, half, 'truncated_by_crash');
      } finally {
        await again.close();
      }
    } finally {
      await releaseTestArchivesUnder(root);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('shutdown after a PATCH refused mid-body', () => {
  it('running.close() still finishes promptly', async () => {
    const s = await startTestServer();
    const root = dirname(s.dir);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let closing: Promise<void> | undefined;
    try {
      const key = await ingestKey(s);
      const big = monoWav(40);
      big.write('JUNK', 0, 'latin1');
      const id = await createOk(s, key, big.length);
      const res = await within(rawRequest(`${s.url}/api/v1/uploads/${id}`, agent, 'PATCH', tusHeaders(key, { 'upload-offset': '0', 'content-type': OCTETS }), big), 5000, 'the refusal');
      assert.equal(res.status, 400);
      agent.destroy(); // the client is gone: nothing should keep the server from stopping
      closing = s.running.close();
      await within(closing, 3000, 'a graceful shutdown');
    } finally {
      agent.destroy();
      s.running.app.server.closeAllConnections();
      await (closing ?? s.running.close());
      await s.archive.close();
      await releaseTestArchivesUnder(root);
      await rm(root, { recursive: true, force: true });
    }
  });
});
