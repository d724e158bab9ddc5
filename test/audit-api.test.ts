// The audit log as auditors see it over the API: the timeline with filters, verification on
// request, alerts and the patient log extract. Only auditors get in; reading is itself logged.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeWav } from '../src/ingest/wav.ts';
import { enrollPerson, ingestKey, signIn, startTestServer, type SessionCreds, sendAs as send, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';


describe('audit API', () => {
  let s: TestServer;
  let id: string;
  let auditor: SessionCreds;
  let nurse: SessionCreds;
  let admin: SessionCreds;

  before(async () => {
    s = await startTestServer();
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(0x55) });
    id = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Norr', caller: '0701112233' }));
    auditor = await signIn(s, await enrollPerson(s, 'auditor', { roles: ['auditor'] }));
    nurse = await signIn(s, await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['Norr'] }));
    admin = await signIn(s, await enrollPerson(s, 'admin', { roles: ['administrator'] }));
    const played = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: nurse.cookie, range: 'bytes=0-99' } });
    assert.equal(played.status, 206);
    await played.arrayBuffer();
  });
  after(() => s.close());

  it('only auditors read the log; a supervisor and an administrator are refused', async () => {
    for (const c of [nurse, admin]) {
      for (const [m, p] of [['GET', '/api/v1/audit/events'], ['GET', '/api/v1/audit/status'], ['GET', '/api/v1/audit/alerts'], ['POST', '/api/v1/audit/verify']] as const) {
        assert.equal((await send(s, c, m, p)).status, 403, p);
      }
      assert.equal((await send(s, c, 'POST', '/api/v1/audit/extract', { phone: '0701112233' })).status, 403);
    }
  });

  it('the timeline filters by recording and action, pages by seq, and logs its own reading', async () => {
    const res = await send(s, auditor, 'GET', `/api/v1/audit/events?recording=${id}&action=recording.played`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { items: Array<{ action: string; actor: { username?: string }; details: { start: number; end: number } }>; next: number | null };
    assert.equal(body.items.length, 1);
    assert.equal(body.items[0]!.actor.username, 'nurse', 'auditors see who, by name');
    assert.deepEqual([body.items[0]!.details.start, body.items[0]!.details.end], [0, 100]);
    const prefix = (await (await send(s, auditor, 'GET', '/api/v1/audit/events?action=auth.&limit=2')).json()) as { items: Array<{ action: string; seq: number }>; next: number };
    assert.equal(prefix.items.length, 2);
    assert.ok(prefix.items.every((i) => i.action.startsWith('auth.')));
    const page2 = (await (await send(s, auditor, 'GET', `/api/v1/audit/events?action=auth.&limit=2&before=${prefix.next}`)).json()) as { items: Array<{ seq: number }> };
    assert.ok(page2.items.every((i) => i.seq < prefix.next));
    assert.equal((await send(s, auditor, 'GET', '/api/v1/audit/events?action=nonsense')).status, 400);
    // The actor by username as well as by id.
    const nurseId = (await s.archive.users.byUsername('nurse'))!.id;
    const byName = (await (await send(s, auditor, 'GET', `/api/v1/audit/events?actor=nurse&action=recording.played`)).json()) as { items: Array<{ actor: { id: string } }> };
    const byId = (await (await send(s, auditor, 'GET', `/api/v1/audit/events?actor=${nurseId}&action=recording.played`)).json()) as { items: Array<{ actor: { id: string } }> };
    assert.equal(byName.items.length, 1);
    assert.deepEqual(byName, byId);
    assert.deepEqual(((await (await send(s, auditor, 'GET', '/api/v1/audit/events?actor=nobody-here')).json()) as { items: unknown[] }).items, []);
    assert.equal((await send(s, auditor, 'GET', `/api/v1/audit/events?actor=${encodeURIComponent("x' OR 1=1")}`)).status, 400);
    const searched = await s.archive.db.selectFrom('audit_events').select('details').where('action', '=', 'audit.searched').execute();
    assert.ok(searched.length >= 3);
  });

  it('verifies the log on request and reports the result in the status', async () => {
    await s.running.checkpointer.checkpoint();
    const v = await send(s, auditor, 'POST', '/api/v1/audit/verify');
    assert.equal(v.status, 200);
    const report = (await v.json()) as { ok: boolean; entries: number; latestCheckpoint: number };
    assert.equal(report.ok, true);
    assert.ok(report.latestCheckpoint > 0);
    const status = (await (await send(s, auditor, 'GET', '/api/v1/audit/status')).json()) as { entries: number; latestCheckpoint: { size: number; note: string }; lastVerification: { ok: boolean } };
    assert.equal(status.lastVerification.ok, true);
    assert.match(status.latestCheckpoint.note, /^callvault/);
    const proof = await send(s, auditor, 'GET', '/api/v1/audit/proof/1');
    assert.equal(proof.status, 200);
    const p = (await proof.json()) as { seq: number; size: number; proof: string[]; rootHash: string; leafHash: string };
    assert.equal(p.seq, 1);
    assert.ok(p.proof.length > 0 && /^[0-9a-f]{64}$/.test(p.rootHash));
    // The proof holds: the leaf and its path hash up to the checkpoint's root (RFC 6962 2.1.1).
    const { verifyInclusion } = await import('../src/audit/merkle.ts');
    assert.ok(verifyInclusion(Buffer.from(p.leafHash, 'hex'), 0, p.size, p.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(p.rootHash, 'hex')));
    assert.equal((await send(s, auditor, 'GET', '/api/v1/audit/proof/999999')).status, 404);
    for (const odd of ['zero', '0', '0x3', '1e0', '%202', '-1', '1.0']) assert.equal((await send(s, auditor, 'GET', `/api/v1/audit/proof/${odd}`)).status, 400, odd);
    assert.equal((await send(s, nurse, 'GET', '/api/v1/audit/proof/1')).status, 403);
    // Reading the log leaves its trace: the proof asked for, the alerts looked at.
    assert.equal((await send(s, auditor, 'GET', '/api/v1/audit/alerts')).status, 200);
    const traces = await s.archive.db.selectFrom('audit_events').select('details').where('action', '=', 'audit.searched').where('details', 'like', '%"proof":1%').execute();
    assert.equal(traces.length, 1);
    assert.equal((await s.archive.db.selectFrom('audit_events').select('seq').where('action', '=', 'audit.searched').where('details', 'like', '%"alerts":true%').execute()).length, 1);
  });

  it('produces a patient extract as JSON and as a printable page under its own strict CSP', async () => {
    const json = await send(s, auditor, 'POST', '/api/v1/audit/extract', { phone: '070-111 22 33' });
    assert.equal(json.status, 200);
    const { entries } = (await json.json()) as { entries: Array<{ action: string; recording: string }> };
    assert.ok(entries.some((e) => e.action === 'recording.played' && e.recording === id));
    const html = await send(s, auditor, 'POST', '/api/v1/audit/extract', { personnummer: '19121212-1212', format: 'html' });
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type')!, /text\/html/);
    assert.match(html.headers.get('content-security-policy')!, /default-src 'none'; style-src 'sha256-/);
    assert.match(await html.text(), /Loggutdrag/);
    const bad = await send(s, auditor, 'POST', '/api/v1/audit/extract', { personnummer: '19121212-1213' });
    assert.equal(bad.status, 400);
    const both = await send(s, auditor, 'POST', '/api/v1/audit/extract', { phone: '0701112233', personnummer: '19121212-1212' });
    assert.equal(both.status, 400);
    const produced = await s.archive.db.selectFrom('audit_events').select('actor_id').where('action', '=', 'audit.extract_produced').execute();
    assert.equal(produced.length, 2);
  });
});
