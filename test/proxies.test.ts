// Behind a load balancer: every request reaches callvault from the balancer's address. The
// audit trail must still name the client's address, a key bound to a PBX's range must still be
// refused elsewhere, and one address's failed attempts must not lock everyone out; and a
// browser's requests, whose Origin is the public URL, must not be refused as cross-origin when
// the balancer sends its own Host. X-Forwarded-For is believed only from the proxies configured
// (CALLVAULT_TRUSTED_PROXIES), never by default.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { lastAuditSeq, startTestServer, type TestServer } from './helpers/archive.ts';
import { tusHeaders, metaHeader } from './helpers/tus.ts';

const META = metaHeader({ startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Unit A', codec: 'pcmu', sampleRate: '8000', channels: '1' });

/** The source addresses of the audit events `request` made (it runs alone). */
async function auditedSources(s: TestServer, request: () => Promise<Response>): Promise<{ res: Response; sources: Array<string | null> }> {
  const before = await lastAuditSeq(s.archive);
  const res = await request();
  await res.arrayBuffer();
  const rows = await s.archive.db.selectFrom('audit_events').select('source').where('seq', '>', before).orderBy('seq').execute();
  assert.ok(rows.length > 0, 'the request left no audit event');
  return { res, sources: rows.map((r) => r.source) };
}

/** An anonymous knock on a recording route, from `forwardedFor` as the proxy says: its audited source. */
async function knock(s: TestServer, forwardedFor: string): Promise<string | null> {
  const { res, sources } = await auditedSources(s, () => fetch(`${s.url}/api/v1/recordings/0123456789abcdef0123456789abcdef`, { headers: { 'x-forwarded-for': forwardedFor } }));
  assert.equal(res.status, 401);
  assert.equal(new Set(sources).size, 1);
  return sources[0]!;
}

async function boundKey(s: TestServer): Promise<string> {
  return (await s.archive.apiKeys.create({ name: 'pbx-east', scope: 'ingest', actor: { type: 'operator', id: 'test' }, allow: ['198.51.100.0/24'] })).token;
}

const createCall = (s: TestServer, key: string, forwardedFor: string) =>
  fetch(`${s.url}/api/v1/uploads`, { method: 'POST', headers: tusHeaders(key, { 'upload-defer-length': '1', 'upload-metadata': META, 'x-forwarded-for': forwardedFor }) });

const enrollmentAttempt = (s: TestServer, forwardedFor: string) =>
  fetch(`${s.url}/api/v1/enrollment/start`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: JSON.stringify({ token: 'A'.repeat(43) }) });

describe('behind a trusted proxy (CALLVAULT_TRUSTED_PROXIES=127.0.0.1)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ CALLVAULT_TRUSTED_PROXIES: '127.0.0.1', CALLVAULT_PUBLIC_URL: 'http://vault.example.org' });
  });
  after(() => s?.close());

  it('audits the address the proxy names as the client, the nearest one it does not trust', async () => {
    assert.equal(await knock(s, '198.51.100.7'), '198.51.100.7');
    // What the client itself wrote comes first; the proxy appends the address it saw.
    assert.equal(await knock(s, '10.9.9.9, 198.51.100.8'), '198.51.100.8');
    assert.equal(await knock(s, '198.51.100.9, 127.0.0.1'), '198.51.100.9', 'a trusted hop is passed over');
  });

  it('writes the address one way however the proxy writes it (a port, brackets, IPv6 spellings), and refuses a request that names no address', async () => {
    // (Addresses not heard before: a knock is audited once a minute per address.)
    assert.equal(await knock(s, '198.51.100.11:53124'), '198.51.100.11');
    assert.equal(await knock(s, '[2001:DB8:0::7]:443'), '2001:db8::7');
    assert.equal(await knock(s, '::ffff:198.51.100.10'), '198.51.100.10');
    const res = await fetch(`${s.url}/api/v1/recordings`, { headers: { 'x-forwarded-for': 'unknown' } });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /X-Forwarded-For/);
  });

  it('lets a key bound to a range be used from that range through the proxy, and refuses it from elsewhere', async () => {
    const key = await boundKey(s);
    assert.equal((await createCall(s, key, '198.51.100.20')).status, 201);
    const refused = await auditedSources(s, () => createCall(s, key, '203.0.113.20'));
    assert.equal(refused.res.status, 403);
    assert.deepEqual([...new Set(refused.sources)], ['203.0.113.20']);
  });

  it('limits attempts per client address, not per proxy: one address over its limit leaves the next one free', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await enrollmentAttempt(s, '198.51.100.30')).status);
    assert.equal(statuses.at(-1), 429, `statuses: ${statuses.join(' ')}`);
    assert.equal((await enrollmentAttempt(s, '198.51.100.31')).status, 404, 'another client is still heard');
    // One client, however its address is spelt.
    const spelt = ['2001:db8::31', '2001:DB8:0:0::31', '[2001:db8::0031]:1234'];
    for (let i = 0; i < 20; i++) assert.equal((await enrollmentAttempt(s, spelt[i % 3]!)).status, 404);
    assert.equal((await enrollmentAttempt(s, '2001:0db8::31')).status, 429);
  });

  it('accepts a browser request whose Origin is the public URL though the proxy sends its own Host, and still refuses another origin', async () => {
    const from = (origin: string) => fetch(`${s.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify({ username: 'nobody', password: 'not the password at all', totpCode: '123456' }) });
    assert.equal((await from('http://vault.example.org')).status, 401, 'heard, and refused for its credentials');
    const other = await from('http://elsewhere.example');
    assert.equal(other.status, 403);
    assert.match(await other.text(), /cross-origin/);
  });
});

describe('without trusted proxies (the default)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer();
  });
  after(() => s?.close());

  it('ignores X-Forwarded-For: the audited source is the connection\'s, and a bound key stays refused', async () => {
    assert.equal(await knock(s, '198.51.100.7'), '127.0.0.1');
    assert.equal((await createCall(s, await boundKey(s), '198.51.100.20')).status, 403);
  });

  it('shares one limit among every X-Forwarded-For a client claims', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 21; i++) statuses.push((await enrollmentAttempt(s, `198.51.100.${i}`)).status);
    assert.equal(statuses.at(-1), 429, `statuses: ${statuses.join(' ')}`);
  });
});

describe('with a trusted proxy that is not the one connecting', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ CALLVAULT_TRUSTED_PROXIES: '10.0.0.5' });
  });
  after(() => s?.close());

  it('believes no X-Forwarded-For from anyone else', async () => {
    assert.equal(await knock(s, '198.51.100.7'), '127.0.0.1');
  });
});
