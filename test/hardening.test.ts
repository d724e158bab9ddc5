// Attacks found in review, each kept as a test: racing the lockout, an administrator widening
// their own access, refusals that left no trace, enrollment of a disabled person, a malformed
// cursor. Each refusal sits next to the request that must still work.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AccountError } from '../src/access/accounts.ts';
import { base32Decode, totpCode } from '../src/access/totp.ts';
import { makeWav } from '../src/ingest/wav.ts';
import { enrollPerson, enrollWithToken, ingestKey, lastAuditSeq, postJson, sendAs, signIn, startTestServer, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

const statusOf = (p: Promise<unknown>) => p.then(() => 200, (e: unknown) => (e instanceof AccountError ? e.status : 500));

describe('lockout under concurrency', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(() => s.close());

  it('forty guesses at once from forty addresses: at most five are checked', async () => {
    await enrollPerson(s, 'victim', { roles: ['auditor'] });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      statusOf(s.archive.accounts.signIn({ username: 'victim', password: `guess number ${i} xx`, totpCode: '000000', source: `203.0.113.${i + 1}`, requestId: `r${i}` }))));
    assert.ok(results.filter((st) => st === 401).length <= 5, results.join(','));
    assert.ok(results.filter((st) => st === 429).length >= 35);
  });

  it('concurrent step-up guesses are held to the same lock, and the lock is audited', async () => {
    const p = await enrollPerson(s, 'stepper', { roles: ['auditor'] });
    const c = await signIn(s, p);
    const r = await s.archive.sessions.resolve(c.cookie.split('=')[1]!);
    assert.ok(r.ok);
    const res = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      statusOf(s.archive.accounts.stepUp(r.principal, { totpCode: String(i).padStart(6, '0') }, { source: `198.51.100.${i + 1}`, requestId: `x${i}` }))));
    assert.ok(res.filter((x) => x === 401).length <= 5, res.join(','));
    const locked = await s.archive.db.selectFrom('audit_events').select('details').where('action', '=', 'auth.locked').execute();
    assert.ok(locked.some((l) => JSON.parse(l.details!).during === 'step-up'));
  });
  it('twenty guesses at once over HTTP: at most five are checked', async () => {
    await enrollPerson(s, 'victim2', { roles: ['auditor'] });
    const res = await Promise.all(Array.from({ length: 20 }, (_, i) => postJson(s, '/api/v1/session', { username: 'victim2', password: `guess number ${i} xx`, totpCode: '000000' })));
    assert.ok(res.filter((r) => r.status === 401).length <= 5, res.map((r) => r.status).join(','));
  });

});

describe('separation of duties and traces', () => {
  let s: TestServer;
  let recId: string;
  before(async () => {
    s = await startTestServer();
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(0x55) });
    recId = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Unit A' }));
  });
  after(() => s.close());

  it('an administrator cannot give themselves an audio role; another administrator can give it to them', async () => {
    const other = await signIn(s, await enrollPerson(s, 'admin2', { roles: ['administrator'] }));
    const { user, token } = await s.archive.users.invite({ username: 'admin', roles: ['administrator'], careUnits: [], agentId: null, actor: { type: 'operator', id: 't' } });
    const admin = await enrollWithToken(s, 'admin', token);
    const c = await signIn(s, admin);
    assert.equal((await sendAs(s, c, 'GET', `/api/v1/recordings/${recId}/audio`)).status, 403);
    const self = await sendAs(s, c, 'PATCH', `/api/v1/users/${user.id}`, { roles: ['administrator', 'supervisor'], careUnits: ['*'] });
    assert.equal(self.status, 403);
    assert.match(((await self.json()) as { error: string }).error, /your own roles/);
    // The attempt leaves a trace, with who tried and what was refused.
    const trace = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'access.denied').where('actor_id', '=', user.id).execute();
    assert.equal(trace.length, 1);
    assert.equal(trace[0]!.object_id, user.id);
    assert.match(trace[0]!.details ?? '', /your own roles/);
    const byOther = await sendAs(s, other, 'PATCH', `/api/v1/users/${user.id}`, { roles: ['administrator', 'supervisor'], careUnits: ['*'] });
    assert.equal(byOther.status, 200, 'the control: a second person may');
  });

  it('user management needs a fresh second factor', async () => {
    const c = await signIn(s, await enrollPerson(s, 'admin3', { roles: ['administrator'] }));
    await s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 10 * 60_000 }).where('csrf_token', '=', c.csrf).execute();
    const res = await sendAs(s, c, 'POST', '/api/v1/users', { username: 'newbie', roles: ['auditor'] });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, 'step_up_required');
    assert.equal((await sendAs(s, c, 'GET', '/api/v1/users')).status, 200, 'reading needs no step-up');
  });

  it('refused requests outside recordings leave a trace too, CSRF failures included', async () => {
    const c = await signIn(s, await enrollPerson(s, 'agentx', { roles: ['agent'], agentId: 'a-1' }));
    const mark = await lastAuditSeq(s.archive);
    assert.equal((await sendAs(s, c, 'GET', '/api/v1/users')).status, 403);
    assert.equal((await sendAs(s, c, 'GET', '/api/v1/audit/events')).status, 403);
    assert.equal((await fetch(`${s.url}/api/v1/session`, { method: 'DELETE', headers: { cookie: c.cookie } })).status, 403);
    const added = await s.archive.db.selectFrom('audit_events').select(['action', 'details']).where('seq', '>', mark).orderBy('seq').execute();
    const reasons = added.filter((e) => e.action === 'access.denied').map((e) => JSON.parse(e.details!).reason as string);
    assert.deepEqual(reasons, ['permission', 'permission', 'csrf']);
  });

  it('a disabled invitee cannot complete enrollment, and re-enabling does not revive the link', async () => {
    const { user, token } = await s.archive.users.invite({ username: 'invitee', roles: ['auditor'], careUnits: [], agentId: null, actor: { type: 'operator', id: 't' } });
    const started = await postJson(s, '/api/v1/enrollment/start', { token });
    const secret = base32Decode(((await started.json()) as { totpSecret: string }).totpSecret);
    await s.archive.users.disable(user.id, { type: 'operator', id: 't' });
    const done = await postJson(s, '/api/v1/enrollment/complete', { token, password: 'a long and unusual passphrase', totpCode: totpCode(secret, Date.now()) });
    assert.equal(done.status, 404);
    await s.archive.users.enable(user.id, { type: 'operator', id: 't' });
    assert.equal((await postJson(s, '/api/v1/enrollment/start', { token })).status, 404);
    assert.equal((await s.archive.users.get(user.id))!.status, 'invited');
  });

  it('a malformed list cursor is a 400 with its reason', async () => {
    const c = await signIn(s, await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['*'] }));
    const res = await sendAs(s, c, 'GET', '/api/v1/recordings?cursor=bm90LWEtY3Vyc29y');
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /cursor/);
  });
});
