// Single sign-on people stay under their identity provider's control: a silent sign-on (the
// provider answering from its own session) is no proof of a second factor here, they cannot
// add a way to sign in that bypasses the provider, and when the provider takes their role
// away, their roles and sessions here end with it.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startTestServer, type TestServer } from './helpers/archive.ts';
import { Browser, CLIENT_ID, CLIENT_SECRET, reserveIdp, type TestIdp } from './helpers/idp.ts';

const ORIGIN = 'https://vault.example.test';
let idp: TestIdp;
let s: TestServer;
before(async () => {
  idp = await reserveIdp();
  s = await startTestServer({
    CALLVAULT_PUBLIC_URL: ORIGIN, CALLVAULT_OIDC_ISSUER: idp.issuer, CALLVAULT_OIDC_CLIENT_ID: CLIENT_ID, CALLVAULT_OIDC_CLIENT_SECRET: CLIENT_SECRET,
    CALLVAULT_OIDC_ROLE_MAP: JSON.stringify({ 'callvault-supervisor': 'supervisor' }),
  });
  await idp.start([`${ORIGIN}/api/v1/sso/callback`]);
  idp.accounts.set('sub-anna', { preferred_username: 'anna', roles: ['callvault-supervisor'], hsa_care_units: ['unit-a'] });
  idp.loginAs = 'sub-anna';
});
after(async () => { await s?.close(); await idp?.close(); });

const call = (method: string, path: string, c?: { cookie: string; csrf: string }, body?: unknown) => fetch(s.url + path, {
  method, headers: { ...(c ? { cookie: c.cookie, 'x-csrf-token': c.csrf } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
  body: body === undefined ? undefined : JSON.stringify(body),
});

async function signOn(b: Browser): Promise<{ status: number; creds?: { cookie: string; csrf: string }; stepUpUntil?: string | null }> {
  const cb = await b.until(`${s.url}/api/v1/sso/start`, (u) => u.pathname === '/api/v1/sso/callback');
  const res = await b.get(new URL(cb.pathname + cb.search, s.url));
  if (res.status !== 200) return { status: res.status };
  const token = /__Host-callvault=([A-Za-z0-9_-]{43})/.exec(res.headers.getSetCookie().join('\n'))![1]!;
  const who = (await (await call('GET', '/api/v1/session', { cookie: `__Host-callvault=${token}`, csrf: '' })).json()) as { csrfToken: string; stepUpUntil: string | null };
  return { status: 200, creds: { cookie: `__Host-callvault=${token}`, csrf: who.csrfToken }, stepUpUntil: who.stepUpUntil };
}

it('a fresh sign-in at the provider counts as a step-up; a silent one does not', async () => {
  const b = new Browser();
  const first = await signOn(b);
  assert.equal(first.status, 200);
  assert.ok(first.stepUpUntil, 'the person just signed in at the provider');
  // The provider's session answers the second time, its sign-in (auth_time) an hour old.
  idp.forgery = { claims: (c) => ({ ...c, auth_time: Number(c.auth_time) - 3600 }) };
  const silent = await signOn(b);
  idp.forgery = null;
  assert.equal(silent.status, 200);
  assert.equal(silent.stepUpUntil, null);
  assert.equal((await call('GET', '/api/v1/recordings', silent.creds)).status, 200, 'the session itself works');
});

it('an SSO person cannot add a passkey or recovery codes, which would outlive the provider', async () => {
  const { creds } = await signOn(new Browser());
  const options = await call('POST', '/api/v1/passkeys/registration/options', creds, {});
  assert.equal(options.status, 409);
  const codes = await call('POST', '/api/v1/session/recovery-codes', creds, {});
  assert.equal(codes.status, 409);
});

it('when the provider takes the role away, the roles and sessions here end too', async () => {
  const { creds } = await signOn(new Browser());
  assert.equal((await call('GET', '/api/v1/recordings', creds)).status, 200);
  idp.accounts.set('sub-anna', { preferred_username: 'anna', roles: [], hsa_care_units: ['unit-a'] });
  const refused = await signOn(new Browser());
  assert.equal(refused.status, 403);
  assert.equal((await call('GET', '/api/v1/recordings', creds)).status, 401, 'the earlier session ended');
  const anna = await s.archive.users.byUsername('anna');
  assert.deepEqual(anna?.roles, []);
});
