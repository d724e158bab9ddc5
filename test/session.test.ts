// Enrollment and sign-in through the API: one-time links, password + TOTP, no replay,
// sessions that end, CSRF on state changes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AccountError } from '../src/access/accounts.ts';
import { base32Decode, totpCode } from '../src/access/totp.ts';
import { enrollAdmin, postJson, startTestServer, type TestServer } from './helpers/archive.ts';

describe('enrollment, sign-in and sessions', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(() => s.close());

  const operator = { type: 'operator' as const, id: 'test' };

  it('an enrollment link works once, checks the password rules and the first code', async () => {
    const { token } = await s.archive.users.invite({ username: 'nurse', roles: ['supervisor'], careUnits: ['*'], agentId: null, actor: operator });
    const started = await postJson(s, '/api/v1/enrollment/start', { token });
    assert.equal(started.status, 200);
    const { username, totpSecret, otpauthUri } = (await started.json()) as { username: string; totpSecret: string; otpauthUri: string };
    assert.equal(username, 'nurse');
    assert.match(otpauthUri, /^otpauth:\/\/totp\//);
    const secret = base32Decode(totpSecret);
    const short = await postJson(s, '/api/v1/enrollment/complete', { token, password: 'too short', totpCode: totpCode(secret, Date.now()) });
    assert.equal(short.status, 400);
    assert.match(((await short.json()) as { error: string }).error, /12 characters/);
    const wrongCode = await postJson(s, '/api/v1/enrollment/complete', { token, password: 'a long enough passphrase', totpCode: '000000' === totpCode(secret, Date.now()) ? '111111' : '000000' });
    assert.equal(wrongCode.status, 400);
    const ok = await postJson(s, '/api/v1/enrollment/complete', { token, password: 'a long enough passphrase', totpCode: totpCode(secret, Date.now()) });
    assert.equal(ok.status, 200);
    const { recoveryCodes } = (await ok.json()) as { recoveryCodes: string[] };
    assert.equal(recoveryCodes.length, 10);
    assert.equal(new Set(recoveryCodes).size, 10);
    const again = await postJson(s, '/api/v1/enrollment/start', { token });
    assert.equal(again.status, 404);
    const unknown = await postJson(s, '/api/v1/enrollment/start', { token: 'A'.repeat(43) });
    assert.equal(unknown.status, 404);
    const extra = await postJson(s, '/api/v1/enrollment/start', { token, admin: true });
    assert.equal(extra.status, 400);
  });

  it('sign-in needs the right password and a fresh code; every failure gets one answer', async () => {
    const p = await enrollAdmin(s, 'clerk');
    const next = totpCode(p.totpSecret, Date.now() + 30_000);
    const answers = [];
    for (const body of [
      { username: 'clerk', password: 'wrong password here', totpCode: next },
      { username: 'nobody', password: p.password, totpCode: next },
      { username: 'clerk', password: p.password, totpCode: '123456' === next ? '654321' : '123456' },
    ]) {
      const res = await postJson(s, '/api/v1/session', body);
      answers.push([res.status, await res.text()]);
    }
    assert.equal(new Set(answers.map((a) => JSON.stringify(a))).size, 1, 'the same status and body whatever was wrong');
    assert.equal(answers[0]![0], 401);
    const ok = await postJson(s, '/api/v1/session', { username: 'clerk', password: p.password, totpCode: next });
    assert.equal(ok.status, 200);
    const cookie = ok.headers.get('set-cookie')!;
    assert.match(cookie, /^__Host-callvault=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict/);
    // The same code again is a replay.
    const replay = await postJson(s, '/api/v1/session', { username: 'clerk', password: p.password, totpCode: next });
    assert.equal(replay.status, 401);
    const denied = await s.archive.db.selectFrom('audit_events').select(['outcome']).where('action', '=', 'auth.login').execute();
    assert.equal(denied.filter((d) => d.outcome === 'denied').length, 4);
    assert.equal(denied.filter((d) => d.outcome === 'success').length, 1);
  });

  it('a session ends on sign-out, which needs the CSRF token', async () => {
    const p = await enrollAdmin(s, 'auditor1');
    const res = await postJson(s, '/api/v1/session', { username: p.username, password: p.password, totpCode: totpCode(p.totpSecret, Date.now() + 30_000) });
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    const { csrfToken } = (await res.json()) as { csrfToken: string };
    const me = await fetch(`${s.url}/api/v1/session`, { headers: { cookie } });
    assert.equal(me.status, 200);
    const noCsrf = await fetch(`${s.url}/api/v1/session`, { method: 'DELETE', headers: { cookie } });
    assert.equal(noCsrf.status, 403);
    const crossSite = await fetch(`${s.url}/api/v1/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrfToken, origin: 'https://evil.example' } });
    assert.equal(crossSite.status, 403);
    const out = await fetch(`${s.url}/api/v1/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrfToken } });
    assert.equal(out.status, 204);
    const after = await fetch(`${s.url}/api/v1/recordings`, { headers: { cookie } });
    assert.equal(after.status, 401);
  });

  it('a tampered or made-up session cookie is anonymous', async () => {
    for (const cookie of ['__Host-callvault=' + 'A'.repeat(43), '__Host-callvault=../../etc', '__Host-callvault=']) {
      const res = await fetch(`${s.url}/api/v1/recordings`, { headers: { cookie } });
      assert.equal(res.status, 401, cookie);
    }
  });

});

describe('lockout of a source address', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(() => s.close());

  it('thirty failures from one address, under thirty names, lock the address: 429 for any name, audited; other addresses still sign in', async () => {
    const p = await enrollAdmin(s, 'dora');
    const guess = (i: number) => ({ username: `guess${i}`, password: 'not the password at all', totpCode: '000000' });
    // Every name fails once, so no account name locks; only the address counts up to 30.
    // Over HTTP an address gets 20 sign-in requests a minute, so the rest of the thirty come
    // through the service, from the same address as the HTTP requests.
    for (let i = 0; i < 15; i++) assert.equal((await postJson(s, '/api/v1/session', guess(i))).status, 401, `attempt ${i}`);
    for (let i = 15; i < 30; i++) {
      await assert.rejects(s.archive.accounts.signIn({ ...guess(i), source: '127.0.0.1', requestId: `guess-${i}` }), (e: unknown) => e instanceof AccountError && e.status === 401);
    }
    const locked = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'auth.locked').execute();
    assert.deepEqual(locked.map((l) => [JSON.parse(l.details!).scope, l.source, l.outcome]), [['address', '127.0.0.1', 'denied']]);
    // A new name, and the right password and code, are refused alike while the address is locked.
    for (const body of [guess(30), { username: p.username, password: p.password, totpCode: totpCode(p.totpSecret, Date.now() + 30_000) }]) {
      const res = await postJson(s, '/api/v1/session', body);
      assert.equal(res.status, 429, body.username);
      assert.ok(Number(res.headers.get('retry-after')) > 60);
      assert.match(((await res.json()) as { error: string }).error, /too many failed attempts; try again in 15 minutes/);
    }
    const refused = await s.archive.db.selectFrom('audit_events').select('details').where('action', '=', 'auth.login').where('outcome', '=', 'denied').execute();
    assert.equal(refused.filter((r) => JSON.parse(r.details!).reason === 'locked').length, 2);
    // Positive control: the same person from another address signs in.
    const ok = await s.archive.accounts.signIn({ username: p.username, password: p.password, totpCode: totpCode(p.totpSecret, Date.now() + 30_000), source: '198.51.100.7', requestId: 'elsewhere' });
    assert.ok(ok.sessionToken);
  });
});
