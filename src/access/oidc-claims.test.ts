import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConfigError, loadConfig } from '../config/config.ts';
import { claimValues, mapClaims, safeReturnTo, usernameBase } from './oidc-claims.ts';

const cfg = { roleClaim: 'roles', roleMap: { 'cv-sup': 'supervisor', 'cv-nurse': 'agent', 'cv-audit': 'auditor' } as const, unitClaim: 'hsa_care_units', agentClaim: 'agent' };

it('reads a claim as a string or a list of strings', () => {
  assert.deepEqual(claimValues('a'), ['a']);
  assert.deepEqual(claimValues(['a', 2, 'b', null, '']), ['a', 'b']);
  assert.deepEqual(claimValues({ a: 1 }), []);
  assert.deepEqual(claimValues(undefined), []);
});

it('grants only mapped roles, never "*" from a claim, and drops a role whose scope is missing', () => {
  assert.deepEqual(mapClaims({ roles: 'cv-sup', hsa_care_units: 'SE2321000016-15CQ' }, cfg),
    { roles: ['supervisor'], careUnits: ['SE2321000016-15CQ'], agentId: null, dropped: [], unmapped: [] });
  const m = mapClaims({ roles: ['cv-sup', 'cv-nurse', 'toString', '__proto__', 'admins'], hsa_care_units: ['*', 'bad/unit'] }, cfg);
  assert.deepEqual(m.roles, []);
  assert.deepEqual(m.careUnits, []);
  assert.equal(m.dropped.length, 2);
  assert.deepEqual(m.unmapped, ['toString', '__proto__', 'admins']);
  assert.deepEqual(mapClaims({ roles: ['cv-nurse', 'cv-audit'], agent: 'agent-7' }, cfg).roles, ['agent', 'auditor']);
  assert.equal(mapClaims({ roles: ['cv-nurse', 'cv-audit'], agent: 'agent-7' }, cfg).agentId, 'agent-7');
});

it('makes a username from the claim in the local shape', () => {
  assert.equal(usernameBase('Anna Svensson'), 'anna-svensson');
  assert.equal(usernameBase('Åsa Öberg'), 'asa-oberg');
  assert.equal(usernameBase('anna@region.se'), 'anna-region.se');
  assert.equal(usernameBase('..x'), 'sso-user');
  assert.equal(usernameBase(undefined), 'sso-user');
  assert.equal(usernameBase('a'.repeat(200)).length, 56);
});

it('lands only on a path of this site', () => {
  for (const [v, want] of [['/recordings?unit=a', '/recordings?unit=a'], ['/', '/'], ['//evil.example', '/'], ['/\\evil.example', '/'],
    ['https://evil.example/', '/'], ['javascript:alert(1)', '/'], ['/a\nb', '/'], ['', '/'], [undefined, '/'], ['/%2F%2Fevil', '/%2F%2Fevil']] as const) {
    assert.equal(safeReturnTo(v), want, String(v));
  }
});

const sso = { CALLVAULT_OIDC_ISSUER: 'https://idp.example/realms/care', CALLVAULT_OIDC_CLIENT_ID: 'callvault', CALLVAULT_OIDC_CLIENT_SECRET: 's3cret', CALLVAULT_OIDC_ROLE_MAP: '{"cv-nurse":"agent"}' };

it('takes single sign-on from CALLVAULT_OIDC_*, with defaults', () => {
  assert.equal(loadConfig({ data: '/tmp/x' }, {}).oidc, undefined);
  const c = loadConfig({ data: '/tmp/x' }, sso).oidc!;
  assert.deepEqual(c.scopes, ['openid', 'profile']);
  assert.deepEqual([c.roleClaim, c.unitClaim, c.usernameClaim, c.agentClaim], ['roles', 'hsa_care_units', 'preferred_username', undefined]);
  assert.deepEqual(c.roleMap, { 'cv-nurse': 'agent' });
  assert.equal(loadConfig({ data: '/tmp/x' }, { ...sso, CALLVAULT_OIDC_ISSUER: 'http://127.0.0.1:9000' }).oidc!.issuer, 'http://127.0.0.1:9000');
});

it('refuses a single sign-on configuration that is incomplete or unsafe, naming the variable', () => {
  const refuse = (env: Record<string, string>, re: RegExp) => assert.throws(() => loadConfig({ data: '/tmp/x' }, env), (e: Error) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
  refuse({ CALLVAULT_OIDC_CLIENT_ID: 'x' }, /CALLVAULT_OIDC_ISSUER is missing/);
  refuse({ ...sso, CALLVAULT_OIDC_ISSUER: 'http://idp.example' }, /CALLVAULT_OIDC_ISSUER must be an https URL/);
  refuse({ ...sso, CALLVAULT_OIDC_ISSUER: 'https://idp.example/?a=1' }, /query or fragment/);
  refuse({ ...sso, CALLVAULT_OIDC_ISSUER: 'https://idp.example/.well-known/openid-configuration' }, /discovery document/);
  refuse({ ...sso, CALLVAULT_OIDC_CLIENT_SECRET: '' }, /CALLVAULT_OIDC_CLIENT_SECRET/);
  refuse({ ...sso, CALLVAULT_OIDC_SCOPES: 'profile email' }, /CALLVAULT_OIDC_SCOPES/);
  refuse({ ...sso, CALLVAULT_OIDC_ROLE_MAP: '{"cv":"root"}' }, /CALLVAULT_OIDC_ROLE_MAP maps "cv" to "root"/);
  refuse({ ...sso, CALLVAULT_OIDC_ROLE_MAP: '["agent"]' }, /CALLVAULT_OIDC_ROLE_MAP must be a non-empty JSON object/);
  refuse({ ...sso, CALLVAULT_OIDC_ROLE_MAP: 'nonsense' }, /CALLVAULT_OIDC_ROLE_MAP/);
  refuse({ ...sso, CALLVAULT_OIDC_UNIT_CLAIM: 'has space' }, /CALLVAULT_OIDC_UNIT_CLAIM/);
});
