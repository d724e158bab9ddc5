// Refusals that must leave a trace: download and export without a fresh second factor, user
// management without one, anonymous requests to recording routes (one event per address and
// route a minute, however many requests), sign-in routes over their rate, and a wrong CSRF
// token of any length. Each refusal sits next to the request that must then succeed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { totpCode } from '../src/access/totp.ts';
import { makeWav } from '../src/ingest/wav.ts';
import { generateIdentity } from '../src/seal/index.ts';
import { sameToken } from '../src/http/server.ts';
import { enrollPerson, ingestKey, postJson, sendAs as send, signIn, startTestServer, type Person, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

interface Row { action: string; actor_type: string; actor_id: string | null; outcome: string; object_id: string | null; care_unit: string | null; request_id: string | null; source: string | null; details: string | null }

describe('refusals leave a trace', () => {
  let s: TestServer;
  let id: string;
  let nurse: Person;
  let c: SessionCreds;
  const recipient = generateIdentity().recipient;

  before(async () => {
    s = await startTestServer();
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(0x55) });
    id = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Unit A', caller: '0701234567' }));
    nurse = await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['Unit A'] });
    c = await signIn(s, nurse);
  });
  after(() => s.close());

  const events = async (action: string): Promise<Array<Row & { d: Record<string, unknown> }>> =>
    (await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', action).orderBy('seq').execute() as unknown as Row[])
      .map((r) => ({ ...r, d: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : {} }));
  const staleStepUp = (creds: SessionCreds) => s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 6 * 60_000 }).where('csrf_token', '=', creds.csrf).execute();

  it('download and export with a stale step-up: 403 step_up_required, audited with the recording; after a step-up both work', async () => {
    await staleStepUp(c);
    const download = await send(s, c, 'GET', `/api/v1/recordings/${id}/download`);
    assert.equal(download.status, 403);
    assert.equal(((await download.json()) as { code: string }).code, 'step_up_required');
    const exported = await send(s, c, 'POST', `/api/v1/recordings/${id}/export`, { recipient });
    assert.equal(exported.status, 403);
    assert.equal(((await exported.json()) as { code: string }).code, 'step_up_required');
    const refused = (await events('recording.denied')).filter((e) => e.d.reason === 'step_up_required');
    assert.deepEqual(refused.map((e) => e.d.permission), ['recordings:download', 'recordings:export']);
    const user = (await s.archive.users.byUsername('nurse'))!;
    for (const e of refused) {
      assert.equal(e.outcome, 'denied');
      assert.equal(e.actor_id, user.id);
      assert.equal(e.object_id, id);
      assert.equal(e.care_unit, 'Unit A');
      assert.equal(e.source, '127.0.0.1');
      assert.ok(e.request_id);
    }
    assert.equal((await events('recording.downloaded')).length + (await events('recording.exported')).length, 0, 'nothing left');
    // The next 30-second step (the one after sign-in's) proves the factor again.
    await s.archive.db.updateTable('users').set({ totp_last_step: 0 }).where('username', '=', 'nurse').execute();
    assert.equal((await send(s, c, 'POST', '/api/v1/session/step-up', { totpCode: totpCode(nurse.totpSecret, Date.now()) })).status, 200);
    const ok = await send(s, c, 'GET', `/api/v1/recordings/${id}/download`);
    assert.equal(ok.status, 200);
    assert.ok((await ok.arrayBuffer()).byteLength > 8000);
    const okExport = await send(s, c, 'POST', `/api/v1/recordings/${id}/export`, { recipient });
    assert.equal(okExport.status, 200);
    assert.match(Buffer.from(await okExport.arrayBuffer()).subarray(0, 21).toString(), /^age-encryption\.org\/v1/);
    assert.equal((await events('recording.downloaded')).length, 1);
    assert.equal((await events('recording.exported')).length, 1);
  });

  it('user management with a stale step-up: 403 step_up_required, audited with the route', async () => {
    const admin = await signIn(s, await enrollPerson(s, 'admin', { roles: ['administrator'] }));
    const target = (await s.archive.users.byUsername('nurse'))!;
    await staleStepUp(admin);
    const res = await send(s, admin, 'POST', `/api/v1/users/${target.id}/disable`);
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'step_up_required');
    const refused = (await events('access.denied')).filter((e) => e.d.reason === 'step_up_required');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.d.route, '/api/v1/users/:id/disable');
    assert.equal(refused[0]!.d.method, 'POST');
    assert.equal(refused[0]!.actor_id, (await s.archive.users.byUsername('admin'))!.id);
    assert.equal((await s.archive.users.byUsername('nurse'))!.status, 'active', 'nothing changed');
  });

  it('anonymous requests to recording routes: audited once per address and route a minute, with no query string', async () => {
    const before = (await events('access.denied')).length;
    for (let i = 0; i < 5; i++) assert.equal((await fetch(`${s.url}/api/v1/recordings/${id}/audio`)).status, 401);
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${s.url}/api/v1/recordings?caller=0701234567&careUnit=Unit%20A`)).status, 401);
    const anonymous = (await events('access.denied')).slice(before);
    assert.deepEqual(anonymous.map((e) => e.d.route), ['/api/v1/recordings/:id/audio', '/api/v1/recordings']);
    for (const e of anonymous) {
      assert.equal(e.actor_type, 'anonymous');
      assert.equal(e.outcome, 'denied');
      assert.equal(e.d.reason, 'unauthenticated');
      assert.equal(e.d.count, 1);
      assert.equal(e.source, '127.0.0.1');
      assert.ok(e.request_id);
      assert.ok(!e.details!.includes('0701234567') && !e.details!.includes('caller') && !e.details!.includes(id), e.details!);
    }
    // Positive control: the same request signed in is answered.
    assert.equal((await send(s, c, 'GET', `/api/v1/recordings/${id}/audio`)).status, 200);
  });

  it('a wrong CSRF token, of any length, is refused and audited; the right one passes', async () => {
    const before = (await events('recording.denied')).filter((e) => e.d.reason === 'csrf').length;
    const hold = (token: string | undefined) => fetch(`${s.url}/api/v1/recordings/${id}/break-glass`, {
      method: 'POST', headers: { cookie: c.cookie, 'content-type': 'application/json', ...(token === undefined ? {} : { 'x-csrf-token': token }) },
      body: JSON.stringify({ reason: 'checking the token, nothing else' }),
    });
    const flipped = (c.csrf[0] === 'A' ? 'B' : 'A') + c.csrf.slice(1);
    for (const token of [undefined, '', 'x', flipped, c.csrf + 'x', 'å'.repeat(c.csrf.length)]) {
      assert.equal((await hold(token)).status, 403, String(token));
    }
    assert.equal((await events('recording.denied')).filter((e) => e.d.reason === 'csrf').length - before, 6);
    // The right token gets past the check (to the service, which says the recording is in scope).
    assert.equal((await hold(c.csrf)).status, 409);
  });

  it('the CSRF comparison is constant-time over equal lengths and refuses everything else', () => {
    const token = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    assert.equal(sameToken(token, token), true);
    for (const given of [undefined, '', 'x', token.slice(1), `${token}x`, `B${token.slice(1)}`, ['a', 'b'], 'å'.repeat(token.length), `${'å'.repeat(21)}a`]) {
      assert.equal(sameToken(given, token), false, String(given));
    }
  });

  it('sign-in attempts over the rate limit get 429 and one audited throttling event per address and route a minute', async () => {
    // 20 attempts a minute from one address (sign-ins above count too), varied names so no account locks.
    const statuses: number[] = [];
    for (let i = 0; i < 25 && statuses.at(-1) !== 429; i++) statuses.push((await postJson(s, '/api/v1/session', { username: `someone${i}`, password: 'not the password at all', totpCode: '000000' })).status);
    assert.equal(statuses.at(-1), 429, statuses.join(','));
    assert.ok(statuses.slice(0, -1).every((st) => st === 401) && statuses.length >= 15, statuses.join(','));
    for (let i = 0; i < 3; i++) {
      const res = await postJson(s, '/api/v1/session', { username: `later${i}`, password: 'not the password at all', totpCode: '000000' });
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) >= 1);
    }
    const throttled = await events('auth.throttled');
    assert.equal(throttled.length, 1);
    assert.equal(throttled[0]!.actor_type, 'anonymous');
    assert.equal(throttled[0]!.outcome, 'denied');
    assert.equal(throttled[0]!.source, '127.0.0.1');
    assert.equal(throttled[0]!.d.route, '/api/v1/session');
    assert.equal(throttled[0]!.d.count, 1);
    assert.ok(throttled[0]!.request_id);
  });
});
