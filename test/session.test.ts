// Enrollment and sign-in through the API: one-time links, password + TOTP, no replay,
// sessions that end, CSRF on state changes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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

  it('throttles repeated sign-in attempts from one address', async () => {
    let last = 0;
    for (let i = 0; i < 25 && last !== 429; i++) {
      last = (await postJson(s, '/api/v1/session', { username: 'nobody', password: 'x'.repeat(12), totpCode: '000000' })).status;
    }
    assert.equal(last, 429);
  });
});
