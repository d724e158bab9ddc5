// Single sign-on against a real OpenID provider (oidc-provider) on loopback, driven as a browser
// would: redirects followed by hand, cookies per origin. Every refusal is shown next to its
// positive control: the same flow, unchanged, signs the same person in.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sha256Hex } from '../src/lib/hash.ts';
import { makeWav } from '../src/ingest/wav.ts';
import { enrollAdmin, ingestKey, signIn, startTestServer, type TestServer } from './helpers/archive.ts';
import { Browser, CLIENT_ID, CLIENT_SECRET, reserveIdp, type Forgery, type TestIdp } from './helpers/idp.ts';
import { tusUpload } from './helpers/tus.ts';

const ROLE_MAP = { 'callvault-supervisor': 'supervisor', 'callvault-nurse': 'agent', 'callvault-auditor': 'auditor' };
const ssoEnv = (issuer: string): Record<string, string> => ({
  CALLVAULT_OIDC_ISSUER: issuer, CALLVAULT_OIDC_CLIENT_ID: CLIENT_ID, CALLVAULT_OIDC_CLIENT_SECRET: CLIENT_SECRET,
  CALLVAULT_OIDC_ROLE_MAP: JSON.stringify(ROLE_MAP), CALLVAULT_OIDC_AGENT_CLAIM: 'hsa_agent_id',
});
const operator = { type: 'operator' as const, id: 'test' };
const ANNA = { preferred_username: 'Anna Svensson', roles: ['callvault-supervisor', 'some-other-group'], hsa_care_units: ['unit-a'] };

describe('single sign-on (OpenID Connect)', () => {
  let idp: TestIdp;
  let s: TestServer;
  let lastSeq = 0;

  before(async () => {
    idp = await reserveIdp();
    s = await startTestServer(ssoEnv(idp.issuer));
    await idp.start([`${s.url}/api/v1/sso/callback`]);
    idp.accounts.set('sub-anna', ANNA);
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(800).fill(0x7f) });
    for (const careUnit of ['unit-a', 'unit-b']) await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit });
  });
  after(async () => {
    await s?.close();
    await idp?.close();
  });

  /** Signs `sub` on from /api/v1/sso/start (or `path`), optionally changing the callback URL or the ID token on the way. */
  async function signOn(sub: string, opts: { b?: Browser; path?: string; tamper?: (u: URL) => unknown; forgery?: Forgery } = {}) {
    idp.loginAs = sub;
    const b = opts.b ?? new Browser();
    const callback = await b.until(s.url + (opts.path ?? '/api/v1/sso/start'), (u) => u.pathname === '/api/v1/sso/callback');
    await opts.tamper?.(callback);
    idp.forgery = opts.forgery ?? null;
    try {
      const res = await b.get(callback);
      return { res, body: await res.text(), callback, b };
    } finally {
      idp.forgery = null;
    }
  }
  const sessionOf = (res: Response) => /__Host-callvault=([A-Za-z0-9_-]{43})/.exec(res.headers.getSetCookie().join('\n'))?.[1];
  const me = (token: string) => fetch(`${s.url}/api/v1/session`, { headers: { cookie: `__Host-callvault=${token}` } });

  async function expectSignedIn(sub: string, opts: Parameters<typeof signOn>[1] = {}) {
    const r = await signOn(sub, opts);
    assert.equal(r.res.status, 200, r.body);
    const token = sessionOf(r.res);
    assert.ok(token, 'a session cookie');
    return { ...r, token };
  }

  async function expectDenied(r: { res: Response; body: string }, status: number, reason: RegExp, srv: TestServer = s) {
    assert.equal(r.res.status, status, r.body);
    assert.equal(sessionOf(r.res), undefined, 'no session cookie');
    assert.match(r.res.headers.get('content-type') ?? '', /application\/json/);
    const row = await srv.archive.db.selectFrom('audit_events').select(['seq', 'details']).where('action', '=', 'auth.sso_denied').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    if (srv === s) {
      assert.ok(row.seq > lastSeq, 'a new auth.sso_denied event');
      lastSeq = row.seq;
    }
    assert.match(String((JSON.parse(row.details!) as { reason: string }).reason), reason);
    assert.ok(!/eyJ|code=|sub-/.test(row.details!), `no token, code or subject in the audit details: ${row.details}`);
  }

  it('says single sign-on is on, and starts it with PKCE S256, state and nonce kept one-use and hashed', async () => {
    assert.deepEqual(await (await fetch(`${s.url}/api/v1/sso`)).json(), { enabled: true, start: '/api/v1/sso/start' });
    const res = await fetch(`${s.url}/api/v1/sso/start`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    const to = new URL(res.headers.get('location')!);
    assert.equal(to.origin, idp.issuer);
    const q = to.searchParams;
    assert.deepEqual([q.get('response_type'), q.get('client_id'), q.get('redirect_uri'), q.get('scope'), q.get('code_challenge_method')],
      ['code', CLIENT_ID, `${s.url}/api/v1/sso/callback`, 'openid profile', 'S256']);
    assert.ok(q.get('state') && q.get('nonce') && q.get('code_challenge'));
    assert.match(res.headers.get('set-cookie')!, /^__Host-callvault-sso=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=600$/);
    const row = await s.archive.db.selectFrom('auth_challenges').selectAll().where('id_hash', '=', sha256Hex(q.get('state')!)).executeTakeFirstOrThrow();
    assert.equal(row.purpose, 'oidc');
    for (const secret of [q.get('state')!, q.get('nonce')!]) assert.ok(!row.data.includes(secret));
  });

  it('a supervisor from the IdP gets a session with the mapped roles and units, and lists only their unit', async () => {
    const { token, body } = await expectSignedIn('sub-anna');
    assert.match(body, /<meta http-equiv="refresh" content="0; url=\/">/);
    const who = (await (await me(token)).json()) as { username: string; roles: string[]; careUnits: string[]; authMethod: string };
    assert.deepEqual([who.username, who.roles, who.careUnits, who.authMethod], ['anna-svensson', ['supervisor'], ['unit-a'], 'oidc']);
    const list = await fetch(`${s.url}/api/v1/recordings`, { headers: { cookie: `__Host-callvault=${token}` } });
    const { items } = (await list.json()) as { items: Array<{ careUnit: string }> };
    assert.deepEqual(items.map((i) => i.careUnit), ['unit-a']);
    const events = await s.archive.db.selectFrom('audit_events').select(['action', 'outcome', 'details']).where('action', 'in', ['auth.login', 'user.provisioned']).execute();
    assert.ok(events.some((e) => e.action === 'user.provisioned'));
    assert.ok(events.some((e) => e.action === 'auth.login' && e.outcome === 'success' && JSON.parse(e.details!).method === 'oidc'));
  });

  it('lands on a path of callvault only', async () => {
    for (const [asked, landed] of [['/enroll', '/enroll'], ['//evil.example/x', '/'], ['/\\evil.example', '/']]) {
      const r = await expectSignedIn('sub-anna', { path: `/api/v1/sso/start?returnTo=${encodeURIComponent(asked)}` });
      assert.match(r.body, new RegExp(`url=${landed.replace('/', '\\/')}"`), asked);
    }
  });

  it('is never merged with a local account of the same name', async () => {
    await enrollAdmin(s, 'admin');
    idp.accounts.set('sub-lookalike', { preferred_username: 'admin', roles: ['callvault-auditor'] });
    const { token } = await expectSignedIn('sub-lookalike');
    const who = (await (await me(token)).json()) as { username: string; roles: string[] };
    assert.deepEqual([who.username, who.roles], ['admin-2', ['auditor']]);
    assert.deepEqual((await s.archive.users.byUsername('admin'))!.roles, ['administrator']);
  });

  it('takes roles and units from the IdP at each sign-on; a change ends the other sessions', async () => {
    const first = await expectSignedIn('sub-anna');
    idp.accounts.set('sub-anna', { ...ANNA, hsa_care_units: ['unit-b'] });
    try {
      const second = await expectSignedIn('sub-anna');
      assert.equal((await me(first.token)).status, 401);
      assert.deepEqual(((await (await me(second.token)).json()) as { careUnits: string[] }).careUnits, ['unit-b']);
    } finally {
      idp.accounts.set('sub-anna', ANNA);
    }
  });

  it('refuses a missing, unknown, reused, expired or other-browser state', async () => {
    await expectDenied(await signOn('sub-anna', { tamper: (u) => u.searchParams.delete('state') }), 400, /missing state/);
    await expectDenied(await signOn('sub-anna', { tamper: (u) => u.searchParams.set('state', 'x'.repeat(43)) }), 400, /unknown or used state/);
    const ok = await expectSignedIn('sub-anna');
    const replay = await ok.b.get(ok.callback);
    await expectDenied({ res: replay, body: await replay.text() }, 400, /unknown or used state/);
    const elsewhere = await new Browser().until(`${s.url}/api/v1/sso/start`, (u) => u.pathname === '/api/v1/sso/callback');
    const stolen = await new Browser().get(elsewhere);
    await expectDenied({ res: stolen, body: await stolen.text() }, 400, /other browser/);
    const late = await signOn('sub-anna', { tamper: () => s.archive.db.updateTable('auth_challenges').set({ expires_at: 0 }).where('purpose', '=', 'oidc').execute() });
    await expectDenied(late, 400, /expired/);
    await expectSignedIn('sub-anna');
  });

  it('refuses an error from the IdP and a wrong iss response parameter', async () => {
    await expectDenied(await signOn('sub-anna', { tamper: (u) => { u.searchParams.delete('code'); u.searchParams.set('error', 'access_denied'); } }), 401, /idp error access_denied/);
    await expectDenied(await signOn('sub-anna', { tamper: (u) => u.searchParams.set('iss', 'http://127.0.0.1:1') }), 401, /iss/);
    await expectSignedIn('sub-anna');
  });

  it('refuses a forged ID token: wrong nonce, audience or issuer, or a stranger\'s key', async () => {
    // The positive control goes through the hostile proxy too: re-signed unchanged, it is accepted.
    await expectSignedIn('sub-anna', { forgery: { claims: (c) => c } });
    await expectDenied(await signOn('sub-anna', { forgery: { claims: (c) => ({ ...c, nonce: 'not-the-one-we-sent' }) } }), 401, /nonce/);
    await expectDenied(await signOn('sub-anna', { forgery: { claims: (c) => ({ ...c, aud: 'another-client' }) } }), 401, /aud/);
    await expectDenied(await signOn('sub-anna', { forgery: { claims: (c) => ({ ...c, iss: 'http://127.0.0.1:1' }) } }), 401, /iss/);
    await expectDenied(await signOn('sub-anna', { forgery: { foreignKey: true } }), 401, /signature/);
    await expectSignedIn('sub-anna');
  });

  it('gives no session to a person with no mapped role, nor to a supervisor without a care unit', async () => {
    idp.accounts.set('sub-visitor', { preferred_username: 'visitor', roles: ['callvault-visitor'] });
    await expectDenied(await signOn('sub-visitor'), 403, /no mapped role/);
    const row = await s.archive.db.selectFrom('audit_events').select('details').where('seq', '=', lastSeq).executeTakeFirstOrThrow();
    assert.deepEqual(JSON.parse(row.details!).roleValues, ['callvault-visitor']);
    assert.equal(await s.archive.db.selectFrom('users').select('id').where('oidc_subject', '=', 'sub-visitor').executeTakeFirst(), undefined);
    idp.accounts.set('sub-unitless', { preferred_username: 'unitless', roles: ['callvault-supervisor'] });
    await expectDenied(await signOn('sub-unitless'), 403, /no usable role/);
    await expectSignedIn('sub-anna');
  });

  it('gives no session to a person disabled here, until enabled again', async () => {
    idp.accounts.set('sub-bo', { preferred_username: 'bo', roles: ['callvault-nurse'], hsa_agent_id: 'agent-7' });
    await expectSignedIn('sub-bo');
    const bo = (await s.archive.users.byUsername('bo'))!;
    await s.archive.users.disable(bo.id, operator);
    await expectDenied(await signOn('sub-bo'), 403, /user disabled/);
    await s.archive.users.enable(bo.id, operator);
    await expectSignedIn('sub-bo');
  });

  it('proves an SSO session again at the IdP (step-up), only for the same person', async () => {
    const { b, token } = await expectSignedIn('sub-anna');
    await s.archive.db.updateTable('sessions').set({ step_up_at: null }).where('id_hash', '=', sha256Hex(token)).execute();
    const start = await b.get(`${s.url}/api/v1/sso/step-up`);
    const asked = new URL(start.headers.get('location')!).searchParams;
    assert.deepEqual([start.status, asked.get('prompt'), asked.get('max_age')], [302, 'login', '0']);
    idp.accounts.set('sub-other', { preferred_username: 'other', roles: ['callvault-auditor'] });
    b.forget(idp.issuer); // someone else signs in at the IdP in this browser
    await expectDenied(await signOn('sub-other', { b, path: '/api/v1/sso/step-up' }), 403, /another person/);
    b.forget(idp.issuer);
    const r = await signOn('sub-anna', { b, path: '/api/v1/sso/step-up' });
    assert.equal(r.res.status, 200, r.body);
    assert.equal(sessionOf(r.res), undefined, 'the same session, proven again');
    assert.ok(((await (await me(token)).json()) as { stepUpUntil: string | null }).stepUpUntil);
    const local = await signIn(s, await enrollAdmin(s, 'local-admin'));
    assert.equal((await fetch(`${s.url}/api/v1/sso/step-up`, { headers: { cookie: local.cookie }, redirect: 'manual' })).status, 409);
  });

  it('refuses to start when the IdP\'s discovery names another issuer than the configured one', async () => {
    const wrong = await startTestServer(ssoEnv(idp.issuer.replace('127.0.0.1', 'localhost')));
    try {
      const res = await fetch(`${wrong.url}/api/v1/sso/start`, { redirect: 'manual' });
      const body = await res.text();
      await expectDenied({ res, body }, 502, /discovery issuer mismatch/, wrong);
      assert.match(body, /issuer/);
      assert.equal(res.headers.get('location'), null);
    } finally {
      await wrong.close();
    }
  });
});
