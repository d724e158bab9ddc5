// Break-glass from request to review: a reason is required, the grant opens one recording for
// a limited time, it is emergency access in the audit log and an alert, and someone else (a
// supervisor of the unit or an auditor, never the grantee) closes its review. Also: a
// data-subject export decrypts with the stock age tool under the recipient's own identity.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeWav } from '../src/ingest/wav.ts';
import { generateIdentity } from '../src/seal/index.ts';
import { extractHtml, patientExtract } from '../src/audit/extract.ts';
import { enrollPerson, ingestKey, signIn, startTestServer, type SessionCreds, sendAs as send, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';


describe('break-glass', () => {
  let s: TestServer;
  let id: string;
  let wav: Buffer;
  let outsider: SessionCreds;
  let unitSupervisor: SessionCreds;
  let otherSupervisor: SessionCreds;
  let auditor: SessionCreds;
  let privacy: SessionCreds;

  before(async () => {
    s = await startTestServer();
    const key = await ingestKey(s);
    wav = makeWav({ codec: 'pcma', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(0xd5) });
    id = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T03:00:00Z', direction: 'inbound', careUnit: 'Akuten', caller: '0701234567' }));
    outsider = await signIn(s, await enrollPerson(s, 'outsider', { roles: ['supervisor'], careUnits: ['Barn'] }));
    unitSupervisor = await signIn(s, await enrollPerson(s, 'akutchef', { roles: ['supervisor'], careUnits: ['Akuten'] }));
    otherSupervisor = await signIn(s, await enrollPerson(s, 'barnchef', { roles: ['supervisor'], careUnits: ['Barn'] }));
    auditor = await signIn(s, await enrollPerson(s, 'granskare', { roles: ['auditor'] }));
    privacy = await signIn(s, await enrollPerson(s, 'dataskydd', { roles: ['privacy_officer'] }));
  });
  after(() => s.close());

  it('needs a reason of some substance', async () => {
    for (const reason of ['', 'because', '          x']) {
      const res = await send(s, outsider, 'POST', `/api/v1/recordings/${id}/break-glass`, { reason });
      assert.equal(res.status, 400, reason);
    }
    assert.equal((await send(s, outsider, 'GET', `/api/v1/recordings/${id}`)).status, 403);
    const unknown = await send(s, outsider, 'POST', `/api/v1/recordings/${'0'.repeat(32)}/break-glass`, { reason: 'a real reason for this' });
    assert.equal(unknown.status, 404);
    // Each refusal of a thin reason is audited, without the reason's text.
    const refused = (await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'recording.denied').where('object_id', '=', id).execute())
      .filter((e) => JSON.parse(e.details!).reason === 'reason_too_short');
    assert.equal(refused.length, 3);
    for (const e of refused) {
      assert.equal(e.outcome, 'denied');
      assert.equal(e.care_unit, 'Akuten');
      assert.equal(JSON.parse(e.details!).permission, 'recordings:break_glass');
      assert.ok(!e.details!.includes('because'));
    }
  });

  it('opens the one recording for playback, for a limited time, as audited emergency access with an alert', async () => {
    const res = await send(s, outsider, 'POST', `/api/v1/recordings/${id}/break-glass`, { reason: 'patient called back, regular nurse unreachable' });
    assert.equal(res.status, 201);
    const grant = (await res.json()) as { id: string; expiresAt: string };
    const minutes = (Date.parse(grant.expiresAt) - Date.now()) / 60_000;
    assert.ok(minutes > 59 && minutes <= 60, String(minutes));
    assert.equal((await send(s, outsider, 'POST', `/api/v1/recordings/${id}/break-glass`, { reason: 'patient called back, regular nurse unreachable' })).status, 409);
    const viewed = await send(s, outsider, 'GET', `/api/v1/recordings/${id}`);
    assert.equal(viewed.status, 200);
    assert.deepEqual(((await viewed.json()) as { allowed: string[] }).allowed, ['play'], 'the answer offers only what the grant opens');
    const inScope = (await (await send(s, unitSupervisor, 'GET', `/api/v1/recordings/${id}`)).json()) as { allowed: string[] };
    assert.deepEqual(inScope.allowed, ['play', 'download', 'export', 'history']);
    const officer = (await (await send(s, privacy, 'GET', `/api/v1/recordings/${id}`)).json()) as { allowed: string[] };
    assert.deepEqual(officer.allowed, ['export', 'legal_hold', 'erase', 'history']);
    const audio = await send(s, outsider, 'GET', `/api/v1/recordings/${id}/audio`);
    assert.equal(audio.status, 200);
    assert.deepEqual(Buffer.from(await audio.arrayBuffer()), wav);
    const listed = (await (await send(s, outsider, 'GET', '/api/v1/recordings')).json()) as { items: Array<{ id: string }> };
    assert.deepEqual(listed.items.map((i) => i.id), [id]);
    assert.equal((await send(s, outsider, 'GET', `/api/v1/recordings/${id}/download`)).status, 404, 'break-glass never opens download');
    assert.equal((await send(s, outsider, 'GET', `/api/v1/recordings/${id}/waveform?points=20`)).status, 200);
    // What the grant opened is marked as emergency access, with the grant; what is in scope is not.
    assert.equal((await send(s, unitSupervisor, 'GET', `/api/v1/recordings/${id}/audio`)).status, 200);
    const outsiderId = (await s.archive.users.byUsername('outsider'))!.id;
    const uses = await s.archive.db.selectFrom('audit_events').selectAll().where('object_id', '=', id).where('outcome', '=', 'success')
      .where('action', 'in', ['recording.viewed', 'recording.played']).orderBy('seq').execute();
    const byOutsider = uses.filter((e) => e.actor_id === outsiderId);
    assert.deepEqual(byOutsider.map((e) => e.action), ['recording.viewed', 'recording.played', 'recording.viewed']);
    for (const e of byOutsider) assert.equal(JSON.parse(e.details!).breakGlass, grant.id, e.action);
    for (const e of uses.filter((u) => u.actor_id !== outsiderId)) assert.equal(JSON.parse(e.details ?? '{}').breakGlass, undefined, e.action);
    const event = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'access.break_glass').executeTakeFirstOrThrow();
    // The patient's log extract says which accesses were emergency access.
    const pseudonym = event.patient_pseudonym!;
    const extract = await patientExtract(s.archive.db, { pseudonym, subject: 'test', calls: { columns: ['caller_index', 'callee_index'], index: Buffer.from(pseudonym, 'hex') } }, { showUsers: true });
    const emergency = extract.filter((x) => x.actor.id === outsiderId && x.outcome === 'success' && x.action !== 'access.break_glass' && x.action !== 'recordings.listed');
    assert.equal(emergency.length, 3);
    // The refusals before the grant are in the patient's extract too, as refusals, not as emergency access.
    const refused = extract.filter((x) => x.actor.id === outsiderId && x.action === 'recording.denied');
    assert.ok(refused.length > 0 && refused.every((x) => !x.emergencyAccess));
    for (const x of emergency) {
      assert.equal(x.emergencyAccess, true, x.action);
      assert.match(x.what.en, /emergency access/);
      assert.match(x.what.sv, /nödåtkomst/);
    }
    assert.ok(extract.filter((x) => x.actor.id !== outsiderId && x.action === 'recording.played').every((x) => !x.emergencyAccess));
    assert.match(extractHtml(extract, { producedAt: 'now', subject: 'test' }), /nödåtkomst/);
    assert.equal(event.care_unit, 'Akuten');
    assert.ok(event.patient_pseudonym);
    assert.ok(!event.details!.includes('unreachable'), 'the free-text reason stays in the review item, not in the immutable log');
    const alerts = await s.archive.db.selectFrom('audit_alerts').selectAll().where('rule', '=', 'break_glass').execute();
    assert.equal(alerts.length, 1);
    // Once the grant has run out, the glass is whole again.
    await s.archive.db.updateTable('break_glass').set({ expires_at: Date.now() - 1 }).execute();
    assert.equal((await send(s, outsider, 'GET', `/api/v1/recordings/${id}`)).status, 403);
    assert.equal((await send(s, outsider, 'GET', '/api/v1/recordings')).status, 200);
  });

  it('is reviewed by a supervisor of the unit or an auditor, never by the grantee or another unit', async () => {
    const queue = async (c: SessionCreds) => ((await (await send(s, c, 'GET', '/api/v1/break-glass')).json()) as { items: Array<{ id: string; reason: string; username: string }> }).items;
    assert.equal((await queue(outsider)).length, 0, 'not one\'s own');
    assert.equal((await queue(otherSupervisor)).length, 0, 'not another unit\'s');
    const [item] = await queue(unitSupervisor);
    assert.ok(item);
    assert.equal(item.username, 'outsider');
    assert.match(item.reason, /unreachable/);
    assert.equal((await queue(auditor)).length, 1);
    assert.equal((await send(s, privacy, 'GET', '/api/v1/break-glass')).status, 403);
    assert.equal((await send(s, outsider, 'POST', `/api/v1/break-glass/${item.id}/review`, { verdict: 'justified' })).status, 404);
    assert.equal((await send(s, otherSupervisor, 'POST', `/api/v1/break-glass/${item.id}/review`, { verdict: 'justified' })).status, 404);
    assert.equal((await send(s, unitSupervisor, 'POST', `/api/v1/break-glass/${item.id}/review`, { verdict: 'maybe' })).status, 400);
    const done = await send(s, unitSupervisor, 'POST', `/api/v1/break-glass/${item.id}/review`, { verdict: 'justified', note: 'checked with the caller record' });
    assert.equal(done.status, 200);
    assert.equal(((await done.json()) as { state: string; reviewedBy: string }).reviewedBy, 'akutchef');
    assert.equal((await send(s, auditor, 'POST', `/api/v1/break-glass/${item.id}/review`, { verdict: 'unjustified' })).status, 409);
    assert.equal((await queue(auditor)).length, 0);
    const reviewed = await s.archive.db.selectFrom('audit_events').select(['outcome']).where('action', '=', 'access.break_glass_reviewed').execute();
    assert.deepEqual(reviewed.map((r) => r.outcome).sort(), ['denied', 'denied', 'success']);
  });

  it('a data-subject export decrypts with the age tool and the recipient\'s identity only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callvault-export-'));
    try {
      const them = generateIdentity();
      const res = await send(s, privacy, 'POST', `/api/v1/recordings/${id}/export`, { recipient: them.recipient });
      assert.equal(res.status, 200);
      writeFileSync(join(dir, 'call.age'), Buffer.from(await res.arrayBuffer()));
      writeFileSync(join(dir, 'them.txt'), `${them.identity}\n`);
      writeFileSync(join(dir, 'other.txt'), `${generateIdentity().identity}\n`);
      execFileSync('age', ['-d', '-i', join(dir, 'them.txt'), '-o', join(dir, 'call.wav'), join(dir, 'call.age')]);
      assert.deepEqual(readFileSync(join(dir, 'call.wav')), wav);
      assert.throws(() => execFileSync('age', ['-d', '-i', join(dir, 'other.txt'), join(dir, 'call.age')], { stdio: 'pipe' }));
      assert.throws(() => execFileSync('age', ['-d', '-i', join(s.dir, 'keys', 'archive-identity.txt'), join(dir, 'call.age')], { stdio: 'pipe' }), 'the archive key is not among its recipients');
      const bad = await send(s, privacy, 'POST', `/api/v1/recordings/${id}/export`, { recipient: 'age1notakey' });
      assert.equal(bad.status, 400);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
