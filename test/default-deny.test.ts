// Default deny, proven: every registered route and method, asked anonymously and with an
// ingest key, gives nothing away; a route without a policy cannot even be registered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeWav } from '../src/ingest/wav.ts';
import { enrollSupervisor, ingestKey, signIn, startTestServer, type TestServer } from './helpers/archive.ts';
import { metaHeader, recordingIdOf, tusCreate, tusHead, tusUpload } from './helpers/tus.ts';
import { buildServer } from '../src/http/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { APP_PATHS } from '../src/http/pages.ts';

const META = { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'unit-a' };

describe('default deny', () => {
  let s: TestServer;
  let key: string;
  let recordingId: string;
  let uploadId: string;

  before(async () => {
    s = await startTestServer();
    key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(0x7f) });
    recordingId = recordingIdOf(await tusUpload(s.url, key, wav, META));
    const created = await tusCreate(s.url, key, { 'upload-length': '1000', 'upload-metadata': metaHeader(META) });
    assert.equal(created.status, 201);
    uploadId = recordingIdOf(created.headers.get('location')!);
  });
  after(() => s.close());

  const urlFor = (pattern: string) => pattern.replace(':id', pattern.includes('uploads') ? uploadId : recordingId);

  async function ask(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
    const res = await fetch(s.url + path, {
      method, headers: { 'tus-resumable': '1.0.0', ...headers },
      body: ['POST', 'PATCH'].includes(method) ? '{}' : undefined,
    });
    return { status: res.status, body: await res.text() };
  }

  it('every route declares a policy, and there are routes of both kinds', () => {
    const routes = s.running.routes;
    assert.ok(routes.length >= 10);
    for (const r of routes) assert.ok(r.policy && ('public' in r.policy || 'permission' in r.policy), `${r.method} ${r.url}`);
    // The browser app: its pages (index.html for each client-side path) and its built assets, GET only.
    const pages = routes.filter((r) => r.tag === 'pages');
    for (const r of pages) {
      assert.ok('public' in r.policy && r.method === 'GET', `${r.method} ${r.url}`);
      assert.ok((APP_PATHS as readonly string[]).includes(r.url) || /^\/assets\/[\w.-]+$/.test(r.url), r.url);
    }
    const publicOnes = routes.filter((r) => 'public' in r.policy && r.tag !== 'pages').map((r) => `${r.method} ${r.url}`);
    // Liveness, sign-in and enrollment only. Adding a public route means adding it here, knowingly.
    assert.deepEqual(publicOnes.sort(), [
      'GET /healthz', 'POST /api/v1/enrollment/complete', 'POST /api/v1/enrollment/start', 'POST /api/v1/session',
      'POST /api/v1/session/passkey/options', 'POST /api/v1/session/passkey',
    ].sort());
  });

  it('anonymous requests to every protected route get 401 and no data', async () => {
    for (const r of s.running.routes.filter((x) => 'permission' in x.policy)) {
      const res = await ask(r.method, urlFor(r.url), { 'content-type': r.rawBody?.contentType ?? 'application/json' });
      assert.equal(res.status, 401, `${r.method} ${r.url}`);
      assert.ok(!res.body.includes(recordingId) && !res.body.includes('RIFF'), `${r.method} ${r.url} leaked`);
    }
  });

  it('public routes answer anonymous callers without data', async () => {
    for (const r of s.running.routes.filter((x) => 'public' in x.policy)) {
      const res = await ask(r.method, urlFor(r.url), { 'content-type': 'application/json' });
      // A passkey sign-in challenge is fresh randomness, not data.
      const pageOrLiveness = r.url === '/healthz' || r.tag === 'pages' || r.url === '/api/v1/session/passkey/options';
      assert.ok(res.status === 200 ? pageOrLiveness : res.status >= 400, `${r.method} ${r.url}: ${res.status}`);
      assert.ok(!res.body.includes(recordingId), `${r.method} ${r.url} leaked`);
    }
  });

  it('an ingest key reaches only the upload routes, and reads nothing', async () => {
    for (const r of s.running.routes.filter((x) => 'permission' in x.policy)) {
      const res = await ask(r.method, urlFor(r.url), { authorization: `Bearer ${key}`, 'content-type': r.rawBody?.contentType ?? 'application/json' });
      assert.ok(!res.body.includes(recordingId) && !res.body.includes('RIFF'), `${r.method} ${r.url} leaked`);
      if (r.url.startsWith('/api/v1/uploads')) continue;
      assert.equal(res.status, 403, `${r.method} ${r.url}`);
    }
    // Nor can it see a finished recording through the upload routes of another key.
    const other = await ingestKey(s, 'pbx-2');
    const head = await tusHead(s.url, other, recordingId);
    assert.equal(head.status, 404);
    const mine = await tusHead(s.url, other, uploadId);
    assert.equal(mine.status, 404);
  });

  it('a signed-in supervisor is the positive control: the same routes answer', async () => {
    const admin = await signIn(s, await enrollSupervisor(s, 'control'));
    const list = await fetch(`${s.url}/api/v1/recordings`, { headers: { cookie: admin.cookie } });
    assert.equal(list.status, 200);
    assert.ok((await list.text()).includes(recordingId));
    const audio = await fetch(`${s.url}/api/v1/recordings/${recordingId}/audio`, { headers: { cookie: admin.cookie } });
    assert.equal(audio.status, 200);
    assert.equal(Buffer.from(await audio.arrayBuffer()).subarray(0, 4).toString(), 'RIFF');
  });

  it('unknown paths, storage paths and path tricks are 404 JSON, never files', async () => {
    for (const path of ['/data', '/blobs', '/keys/archive-identity.txt', '/api/v1/../keys', '/catalog.sqlite', '/api/v2/recordings', '/%2e%2e/etc/passwd']) {
      const res = await fetch(s.url + path);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    }
  });

  it('sends strict security headers and no server banner', async () => {
    const res = await fetch(`${s.url}/healthz`);
    assert.equal(res.headers.get('server'), null);
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('refuses to register a route that declares no policy', () => {
    const app = buildServer({ config: loadConfig({ data: s.dir }), routes: [], audit: s.archive.audit, authenticate: async () => ({ kind: 'anonymous' }) });
    assert.throws(() => app.get('/sneaky', async () => 'data'), /declares no access policy/);
  });
});
