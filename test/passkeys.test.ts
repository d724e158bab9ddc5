// Passkeys over the real API on loopback, with a software authenticator standing in for a
// hardware key: adding one needs a fresh step-up; a passkey signs in alone and steps up; every
// forgery (replay, origin, RP ID, stale counter, someone else's or an unknown credential, a
// disabled person) is refused with one answer and audited, next to a positive control.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sha256Hex } from '../src/lib/hash.ts';
import { enrollWithToken, signIn, startTestServer, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { SoftwareAuthenticator, type Bend } from './helpers/webauthn.ts';

const ORIGIN = 'https://vault.example.test';
const RP_ID = 'vault.example.test';
const env = { CALLVAULT_PUBLIC_URL: ORIGIN };
const operator = { type: 'operator' as const, id: 'test' };

type Json = Record<string, unknown>;
interface Member { userId: string; creds: SessionCreds; auth: SoftwareAuthenticator; recoveryCodes: string[] }

function call(s: TestServer, method: string, path: string, creds?: SessionCreds, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (creds) Object.assign(headers, { cookie: creds.cookie, 'x-csrf-token': creds.csrf });
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(s.url + path, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
}
const json = async (res: Response) => (await res.json()) as Json;

/** Invites and enrolls a person, signs them in with password + TOTP (a fresh step-up). */
async function enroll(s: TestServer, username: string): Promise<Omit<Member, 'auth'>> {
  const { user, token } = await s.archive.users.invite({ username, roles: ['supervisor'], careUnits: ['*'], agentId: null, actor: operator });
  const p = await enrollWithToken(s, username, token);
  return { userId: user.id, creds: await signIn(s, p), recoveryCodes: p.recoveryCodes };
}

async function register(s: TestServer, creds: SessionCreds, auth: SoftwareAuthenticator, bend: Bend = {}): Promise<Response> {
  const res = await call(s, 'POST', '/api/v1/passkeys/registration/options', creds, {});
  assert.equal(res.status, 200, await res.clone().text());
  const options = (await res.json()) as { challenge: string; rp: { id: string }; user: { id: string } };
  return call(s, 'POST', '/api/v1/passkeys/registration', creds, { response: auth.register(options, bend), name: 'desk key' });
}

async function enrollWithPasskey(s: TestServer, username: string): Promise<Member> {
  const m = await enroll(s, username);
  const auth = new SoftwareAuthenticator(ORIGIN);
  assert.equal((await register(s, m.creds, auth)).status, 201);
  return { ...m, auth };
}

/** Asks for sign-in options and answers them with `auth`; returns the answer and what was sent. */
async function passkeySignIn(s: TestServer, auth: SoftwareAuthenticator, bend: Bend = {}): Promise<{ res: Response; sent: unknown }> {
  const options = await json(await call(s, 'POST', '/api/v1/session/passkey/options', undefined, {}));
  const sent = { response: auth.assert(options as { challenge: string; rpId: string }, bend) };
  return { res: await call(s, 'POST', '/api/v1/session/passkey', undefined, sent), sent };
}

const credsOf = async (res: Response): Promise<SessionCreds> => ({ cookie: res.headers.get('set-cookie')!.split(';')[0]!, csrf: String((await json(res)).csrfToken) });
const staleStepUp = (s: TestServer, userId: string) => s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 6 * 60_000 }).where('user_id', '=', userId).execute();

async function lastAudit(s: TestServer, action: string): Promise<{ outcome: string; actor_id: string | null; details: Json }> {
  const row = await s.archive.db.selectFrom('audit_events').select(['outcome', 'actor_id', 'details']).where('action', '=', action).orderBy('seq', 'desc').executeTakeFirstOrThrow();
  return { ...row, details: JSON.parse(row.details ?? '{}') as Json };
}

describe('adding passkeys', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(env); });
  after(() => s.close());

  it('needs a step-up within 5 minutes; then stores the credential, audited, with a one-time challenge', async () => {
    const m = await enroll(s, 'nurse');
    await staleStepUp(s, m.userId);
    const refused = await call(s, 'POST', '/api/v1/passkeys/registration/options', m.creds, {});
    assert.equal(refused.status, 403);
    assert.equal((await json(refused)).code, 'step_up_required');
    const alsoRefused = await call(s, 'POST', '/api/v1/passkeys/registration', m.creds, { response: new SoftwareAuthenticator(ORIGIN).register({ challenge: 'x'.repeat(43), rp: {}, user: { id: 'x' } }) });
    assert.equal(alsoRefused.status, 403);

    // Positive control: a real step-up (a recovery code) opens it.
    assert.equal((await call(s, 'POST', '/api/v1/session/step-up', m.creds, { recoveryCode: m.recoveryCodes[0] })).status, 200);
    const res = await call(s, 'POST', '/api/v1/passkeys/registration/options', m.creds, {});
    assert.equal(res.status, 200);
    const options = (await res.json()) as { challenge: string; rp: { id: string }; user: { id: string }; attestation: string; authenticatorSelection: Json; excludeCredentials: unknown[] };
    assert.equal(options.rp.id, RP_ID);
    assert.equal(options.attestation, 'none');
    assert.deepEqual(options.authenticatorSelection, { residentKey: 'preferred', userVerification: 'required', requireResidentKey: false });
    assert.deepEqual(options.excludeCredentials, []);
    // Only the challenge's hash is stored, bound to its purpose and person.
    const stored = await s.archive.db.selectFrom('auth_challenges').selectAll().where('id_hash', '=', sha256Hex(options.challenge)).executeTakeFirstOrThrow();
    assert.equal(stored.purpose, 'passkey-register');
    assert.equal(stored.user_id, m.userId);
    assert.ok(!JSON.stringify(await s.archive.db.selectFrom('auth_challenges').selectAll().execute()).includes(options.challenge));

    const auth = new SoftwareAuthenticator(ORIGIN);
    const body = { response: auth.register(options), name: 'desk key' };
    const added = await call(s, 'POST', '/api/v1/passkeys/registration', m.creds, body);
    assert.equal(added.status, 201, await added.clone().text());
    assert.equal((await json(added)).id, auth.id);
    const row = await s.archive.db.selectFrom('passkeys').selectAll().where('id', '=', auth.id).executeTakeFirstOrThrow();
    assert.equal(row.user_id, m.userId);
    assert.equal(row.counter, 0);
    assert.equal(row.transports, '["usb"]');
    assert.equal(row.name, 'desk key');
    const audited = await lastAudit(s, 'auth.passkey_registered');
    assert.equal(audited.outcome, 'success');
    assert.equal(audited.actor_id, m.userId);

    // The same response again: its challenge is spent.
    const replay = await call(s, 'POST', '/api/v1/passkeys/registration', m.creds, body);
    assert.equal(replay.status, 400);
    assert.match(String((await json(replay)).error), /challenge/);
    assert.equal((await lastAudit(s, 'auth.passkey_registered')).outcome, 'denied');

    // Next time the key is excluded, and listed as the person's own.
    const again = await json(await call(s, 'POST', '/api/v1/passkeys/registration/options', m.creds, {}));
    assert.deepEqual((again.excludeCredentials as Array<{ id: string }>).map((c) => c.id), [auth.id]);
    const list = await json(await call(s, 'GET', '/api/v1/passkeys', m.creds));
    assert.deepEqual((list.items as Array<{ id: string; name: string }>).map((k) => [k.id, k.name]), [[auth.id, 'desk key']]);
  });

  it('refuses a response for another origin or RP ID, without user verification, or garbled, with a reason', async () => {
    const m = await enroll(s, 'clerk');
    for (const [bend, reason] of [[{ origin: 'https://evil.example' }, /origin/], [{ rpId: 'evil.example' }, /rp id/], [{ noUserVerification: true }, /user verification/]] as const) {
      const res = await register(s, m.creds, new SoftwareAuthenticator(ORIGIN), bend);
      assert.equal(res.status, 400, JSON.stringify(bend));
      assert.match(String((await json(res)).error), reason);
    }
    const options = await json(await call(s, 'POST', '/api/v1/passkeys/registration/options', m.creds, {}));
    const response = new SoftwareAuthenticator(ORIGIN).register(options as never);
    response.response.attestationObject = 'AAAA';
    const garbled = await call(s, 'POST', '/api/v1/passkeys/registration', m.creds, { response });
    assert.equal(garbled.status, 400);
    assert.equal((await s.archive.db.selectFrom('passkeys').selectAll().where('user_id', '=', m.userId).execute()).length, 0);
    // Positive control: the same person, an honest authenticator.
    assert.equal((await register(s, m.creds, new SoftwareAuthenticator(ORIGIN))).status, 201);
  });

  it('answers malformed bodies with 400 and a reason, never a 500', async () => {
    const m = await enroll(s, 'porter');
    const valid = new SoftwareAuthenticator(ORIGIN).assert({ challenge: 'A'.repeat(43) });
    const bodies: unknown[] = [
      '{"response": ', {}, { response: valid, extra: 1 }, { response: { ...valid, type: 'password' } },
      { response: { ...valid, response: { ...valid.response, clientDataJSON: 'not base64url!' } } },
      { response: { ...valid, response: { ...valid.response, signature: 'A'.repeat(3000) } } },
      { response: { ...valid, response: { ...valid.response, extra: 'x' } } }, [], 'null',
    ];
    for (const body of bodies) {
      for (const [path, creds] of [['/api/v1/session/passkey', undefined], ['/api/v1/session/step-up/passkey', m.creds]] as const) {
        const res = await call(s, 'POST', path, creds, body);
        assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
        assert.ok(String((await json(res)).error).length > 0);
      }
    }
    assert.equal((await call(s, 'POST', '/api/v1/passkeys/registration', m.creds, { response: { id: 'x' } })).status, 400);
    assert.equal((await call(s, 'POST', '/api/v1/passkeys/registration/options', m.creds, { please: true })).status, 400);
    assert.equal((await call(s, 'DELETE', '/api/v1/passkeys/..%2F..', m.creds)).status, 400);
    // Well-formed but meaningless: a sign-in refusal (401), not a crash.
    const noChallenge = { response: { ...valid, response: { ...valid.response, clientDataJSON: 'bm90IGpzb24' } } };
    assert.equal((await call(s, 'POST', '/api/v1/session/passkey', undefined, noChallenge)).status, 401);
  });
});

describe('signing in with a passkey', () => {
  let s: TestServer;
  let a: Member;
  let b: Member;
  before(async () => {
    s = await startTestServer(env);
    a = await enrollWithPasskey(s, 'anna');
    b = await enrollWithPasskey(s, 'bertil');
  });
  after(() => s.close());

  it('signs in with the passkey alone: a session of method passkey, stepped up; the assertion works once', async () => {
    const options = await json(await call(s, 'POST', '/api/v1/session/passkey/options', undefined, {}));
    assert.equal(options.rpId, RP_ID);
    assert.equal(options.userVerification, 'required');
    assert.equal(options.allowCredentials, undefined, 'discoverable: no username, no credential list');
    const body = { response: a.auth.assert(options as { challenge: string }) };
    const res = await call(s, 'POST', '/api/v1/session/passkey', undefined, body);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('set-cookie')!, /^__Host-callvault=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict/);
    const creds = await credsOf(res);
    const me = await json(await call(s, 'GET', '/api/v1/session', creds));
    assert.equal(me.username, 'anna');
    assert.equal(me.authMethod, 'passkey');
    assert.notEqual(me.stepUpUntil, null);
    const session = await s.archive.db.selectFrom('sessions').select('auth_method').where('user_id', '=', a.userId).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    assert.equal(session.auth_method, 'passkey');
    const ok = await lastAudit(s, 'auth.login');
    assert.deepEqual([ok.outcome, ok.actor_id, ok.details.method], ['success', a.userId, 'passkey']);
    assert.equal((await s.archive.db.selectFrom('passkeys').select('counter').where('id', '=', a.auth.id).executeTakeFirstOrThrow()).counter, 1);

    const replay = await call(s, 'POST', '/api/v1/session/passkey', undefined, body);
    assert.equal(replay.status, 401);
    assert.equal(replay.headers.get('set-cookie'), null);
    const denied = await lastAudit(s, 'auth.login');
    assert.deepEqual([denied.outcome, denied.details.reason], ['denied', 'challenge unknown, used or expired']);
  });

  it('refuses another origin, another RP ID, no user verification, a forged signature: one answer, reasons audited', async () => {
    const forger = new SoftwareAuthenticator(ORIGIN);
    const cases: Array<[SoftwareAuthenticator, Bend, string]> = [
      [a.auth, { origin: 'https://evil.example' }, 'origin'],
      [a.auth, { origin: 'http://vault.example.test' }, 'origin'],
      [a.auth, { rpId: 'evil.example' }, 'rp id'],
      [a.auth, { noUserVerification: true }, 'user verification'],
    ];
    const answers = new Set<string>();
    for (const [auth, bend, reason] of cases) {
      const { res } = await passkeySignIn(s, auth, bend);
      answers.add(`${res.status} ${await res.text()}`);
      const d = await lastAudit(s, 'auth.login');
      assert.deepEqual([d.outcome, d.actor_id, d.details.reason], ['denied', a.userId, reason], JSON.stringify(bend));
    }
    // Signed by another key, but naming anna's credential.
    const options = await json(await call(s, 'POST', '/api/v1/session/passkey/options', undefined, {}));
    const forged = forger.assert(options as { challenge: string });
    forged.id = forged.rawId = a.auth.id;
    const res = await call(s, 'POST', '/api/v1/session/passkey', undefined, { response: forged });
    answers.add(`${res.status} ${await res.text()}`);
    assert.equal((await lastAudit(s, 'auth.login')).details.reason, 'signature');
    assert.deepEqual([...answers], [`401 ${JSON.stringify({ error: 'the passkey was not accepted; try again or sign in with your password' })}`]);
    // Positive control.
    assert.equal((await passkeySignIn(s, a.auth)).res.status, 200);
  });

  it('refuses an unknown credential and a user handle of someone else', async () => {
    const { res } = await passkeySignIn(s, new SoftwareAuthenticator(ORIGIN));
    assert.equal(res.status, 401);
    const d = await lastAudit(s, 'auth.login');
    assert.deepEqual([d.actor_id, d.details.reason], [null, 'unknown credential']);
    const own = a.auth.userHandle;
    a.auth.userHandle = b.auth.userHandle;
    try {
      assert.equal((await passkeySignIn(s, a.auth)).res.status, 401);
      assert.equal((await lastAudit(s, 'auth.login')).details.reason, 'user handle does not match the credential');
    } finally {
      a.auth.userHandle = own;
    }
    assert.equal((await passkeySignIn(s, a.auth)).res.status, 200);
  });

  it('refuses a counter that does not increase (a cloned authenticator)', async () => {
    const stored = (await s.archive.db.selectFrom('passkeys').select('counter').where('id', '=', b.auth.id).executeTakeFirstOrThrow()).counter;
    assert.equal((await passkeySignIn(s, b.auth)).res.status, 200);
    for (const counter of [stored + 1, stored]) {
      assert.equal((await passkeySignIn(s, b.auth, { counter })).res.status, 401);
      const d = await lastAudit(s, 'auth.login');
      assert.deepEqual([d.actor_id, d.details.reason], [b.userId, 'counter did not increase (possible cloned authenticator)']);
    }
    assert.equal((await passkeySignIn(s, b.auth)).res.status, 200, 'the next counter is accepted');
  });

  it('refuses a disabled person, and lets them in again once enabled', async () => {
    await s.archive.users.disable(b.userId, operator);
    assert.equal((await passkeySignIn(s, b.auth)).res.status, 401);
    assert.equal((await lastAudit(s, 'auth.login')).details.reason, 'user disabled');
    await s.archive.users.enable(b.userId, operator);
    assert.equal((await passkeySignIn(s, b.auth)).res.status, 200);
  });
});

describe('step-up and removal with passkeys', () => {
  let s: TestServer;
  let a: Member;
  let b: Member;
  before(async () => {
    s = await startTestServer(env);
    a = await enrollWithPasskey(s, 'anna');
    b = await enrollWithPasskey(s, 'bertil');
  });
  after(() => s.close());

  async function stepUp(m: Member, auth: SoftwareAuthenticator, bend: Bend = {}): Promise<Response> {
    const res = await call(s, 'POST', '/api/v1/session/step-up/passkey/options', m.creds, {});
    assert.equal(res.status, 200);
    const options = (await res.json()) as { challenge: string; allowCredentials: Array<{ id: string }> };
    assert.deepEqual(options.allowCredentials.map((c) => c.id), [m.auth.id], 'only their own passkeys are offered');
    return call(s, 'POST', '/api/v1/session/step-up/passkey', m.creds, { response: auth.assert(options, bend) });
  }

  it('steps up with one\'s own passkey; refuses someone else\'s, audited', async () => {
    await staleStepUp(s, a.userId);
    assert.equal((await json(await call(s, 'GET', '/api/v1/session', a.creds))).stepUpUntil, null);
    assert.equal((await call(s, 'POST', '/api/v1/passkeys/registration/options', a.creds, {})).status, 403);

    assert.equal((await stepUp(a, b.auth)).status, 401);
    let d = await lastAudit(s, 'auth.step_up');
    assert.deepEqual([d.outcome, d.actor_id, d.details.reason], ['denied', a.userId, "another person's credential"]);
    assert.equal((await stepUp(a, a.auth, { origin: 'https://evil.example' })).status, 401);
    assert.equal((await lastAudit(s, 'auth.step_up')).details.reason, 'origin');
    assert.equal((await json(await call(s, 'GET', '/api/v1/session', a.creds))).stepUpUntil, null);

    const ok = await stepUp(a, a.auth);
    assert.equal(ok.status, 200);
    assert.notEqual((await json(ok)).stepUpUntil, null);
    d = await lastAudit(s, 'auth.step_up');
    assert.deepEqual([d.outcome, d.details.factor], ['success', 'passkey']);
    assert.notEqual((await json(await call(s, 'GET', '/api/v1/session', a.creds))).stepUpUntil, null);
    assert.equal((await call(s, 'POST', '/api/v1/passkeys/registration/options', a.creds, {})).status, 200);
  });

  it('binds a challenge to its purpose and person', async () => {
    // A sign-in challenge does not serve a step-up, nor does anna's step-up challenge serve bertil.
    const login = await json(await call(s, 'POST', '/api/v1/session/passkey/options', undefined, {}));
    assert.equal((await call(s, 'POST', '/api/v1/session/step-up/passkey', a.creds, { response: a.auth.assert(login as { challenge: string }) })).status, 401);
    const annas = await json(await call(s, 'POST', '/api/v1/session/step-up/passkey/options', a.creds, {}));
    assert.equal((await call(s, 'POST', '/api/v1/session/step-up/passkey', b.creds, { response: b.auth.assert(annas as { challenge: string }) })).status, 401);
    assert.equal((await lastAudit(s, 'auth.step_up')).details.reason, 'challenge unknown, used or expired');
    // Nor does a step-up challenge sign anyone in.
    assert.equal((await call(s, 'POST', '/api/v1/session/passkey', undefined, { response: a.auth.assert(annas as { challenge: string }) })).status, 401);
    // Anna's challenge was not spent by bertil's attempt: she can still use it.
    assert.equal((await call(s, 'POST', '/api/v1/session/step-up/passkey', a.creds, { response: a.auth.assert(annas as { challenge: string }) })).status, 200);
  });

  it('removes one\'s own passkey (after a step-up): it no longer signs in', async () => {
    assert.equal((await passkeySignIn(s, b.auth)).res.status, 200, 'control: it signs in before removal');
    const path = `/api/v1/passkeys/${b.auth.id}`;
    assert.equal((await call(s, 'DELETE', path, a.creds)).status, 404, "anna cannot remove bertil's passkey");
    assert.equal((await fetch(s.url + path, { method: 'DELETE', headers: { cookie: b.creds.cookie } })).status, 403, 'CSRF token needed');
    await staleStepUp(s, b.userId);
    const stale = await call(s, 'DELETE', path, b.creds);
    assert.equal(stale.status, 403);
    assert.equal((await json(stale)).code, 'step_up_required');
    await s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() }).where('user_id', '=', b.userId).execute();
    assert.equal((await call(s, 'DELETE', path, b.creds)).status, 204);
    const d = await lastAudit(s, 'auth.passkey_removed');
    assert.deepEqual([d.outcome, d.actor_id], ['success', b.userId]);
    assert.deepEqual((await json(await call(s, 'GET', '/api/v1/passkeys', b.creds))).items, []);
    assert.equal((await call(s, 'DELETE', path, b.creds)).status, 404);
    assert.equal((await passkeySignIn(s, b.auth)).res.status, 401);
    assert.equal((await lastAudit(s, 'auth.login')).details.reason, 'unknown credential');
    assert.equal((await call(s, 'POST', '/api/v1/session/step-up/passkey/options', b.creds, {})).status, 409);
    assert.equal((await passkeySignIn(s, a.auth)).res.status, 200, "anna's passkey still works");
  });

  it('throttles the public passkey routes per source address', async () => {
    let last = 0;
    for (let i = 0; i < 25 && last !== 429; i++) last = (await call(s, 'POST', '/api/v1/session/passkey/options', undefined, {})).status;
    assert.equal(last, 429);
    for (let i = 0, status = 0; i < 25 && status !== 429; i++) {
      status = (await call(s, 'POST', '/api/v1/session/passkey', undefined, { response: a.auth.assert({ challenge: 'A'.repeat(43) }) })).status;
      last = status;
    }
    assert.equal(last, 429);
  });
});
