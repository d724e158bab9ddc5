// Erasure by a privacy officer: held recordings stay, a fresh second factor is needed, and an
// erased recording's key, numbers and payload are gone while the audit log still verifies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeWav } from '../src/ingest/wav.ts';
import { totpCode } from '../src/access/totp.ts';
import { enrollPerson, ingestKey, signIn, startTestServer, type Person, type SessionCreds, sendAs as send, type TestServer } from './helpers/archive.ts';
import { runCli } from './helpers/cli.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';


describe('erasure and legal hold', () => {
  let s: TestServer;
  let id: string;
  let callback: string;
  let officer: Person;
  let c: SessionCreds;
  let nurse: SessionCreds;

  before(async () => {
    s = await startTestServer();
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(0x55) });
    id = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Norr', caller: '0701112233', callId: 'pbx-1' }));
    // A call back to the same person: on an outbound call the patient is the callee.
    callback = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T09:00:00Z', direction: 'outbound', careUnit: 'Norr', callee: '0701112233' }));
    officer = await enrollPerson(s, 'dpo', { roles: ['privacy_officer'] });
    c = await signIn(s, officer);
    nurse = await signIn(s, await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['Norr'] }));
    const played = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: nurse.cookie } });
    await played.arrayBuffer();
  });
  after(() => s.close());

  it('a legal hold blocks erasure until released', async () => {
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${id}/legal-hold`, { hold: true })).status, 200);
    const held = await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
    assert.equal(held.status, 409);
    assert.match(((await held.json()) as { error: string }).error, /legal hold/);
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${id}/legal-hold`, { hold: false })).status, 200);
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'because' })).status, 400);
  });

  it('needs a fresh second factor, then destroys key, numbers and payload, keeping a tombstone', async () => {
    const before = await s.archive.db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    await s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 10 * 60_000 }).where('csrf_token', '=', c.csrf).execute();
    const stale = await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
    assert.equal(stale.status, 403);
    await s.archive.db.updateTable('users').set({ totp_last_step: 0 }).where('username', '=', 'dpo').execute();
    assert.equal((await send(s, c, 'POST', '/api/v1/session/step-up', { totpCode: totpCode(officer.totpSecret, Date.now()) })).status, 200);
    const erased = await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
    assert.equal(erased.status, 200);
    const row = await s.archive.db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.ok(row.erased_at);
    assert.equal(row.header.length, 0);
    assert.equal(row.caller_sealed, null);
    assert.equal(row.caller_index, null);
    assert.equal(row.external_call_id, null);
    assert.equal(row.care_unit, 'Norr', 'the tombstone keeps what the audit log refers to');
    await assert.rejects(s.archive.store.size(before.blob_key));
    assert.equal((await fetch(`${s.url}/api/v1/recordings/${id}`, { headers: { cookie: nurse.cookie } })).status, 404);
    const list = (await (await fetch(`${s.url}/api/v1/recordings`, { headers: { cookie: nurse.cookie } })).json()) as { items: Array<{ id: string }> };
    assert.deepEqual(list.items.map((i) => i.id), [callback]);
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' })).status, 404);
  });

  it('a recording erased while it plays: the play is cut, and the log says so (no verification failure, no internal error)', async () => {
    const key = await ingestKey(s);
    const long = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8_000 * 3_600).fill(0x55) }); // an hour, 28.8 MB: more than socket buffers and read-ahead hold
    const victim = recordingIdOf(await tusUpload(s.url, key, long, { startedAt: '2026-11-25T11:00:00Z', direction: 'inbound', careUnit: 'Norr', caller: '0702223344' }));
    const { request } = await import('node:http');
    const got = await new Promise<{ bytes: number; ended: 'end' | 'error' | 'aborted' }>((resolve) => {
      const req = request(`${s.url}/api/v1/recordings/${victim}/audio`, { headers: { cookie: nurse.cookie } }, (res) => {
        let bytes = 0;
        let erased = false;
        res.on('data', (d: Buffer) => {
          bytes += d.length;
          if (erased) return;
          erased = true;
          res.pause(); // the server's stream waits on us while the recording is erased
          void send(s, c, 'POST', `/api/v1/recordings/${victim}/erase`, { basis: 'data_subject_request' }).then((r) => {
            assert.equal(r.status, 200);
            res.resume();
          });
        });
        res.on('end', () => resolve({ bytes, ended: 'end' }));
        res.on('aborted', () => resolve({ bytes, ended: 'aborted' }));
        res.on('error', () => resolve({ bytes, ended: 'error' }));
      });
      req.on('error', () => resolve({ bytes: 0, ended: 'error' }));
      req.end();
    });
    assert.ok(got.bytes < long.length, `the play went on after the erasure (${got.bytes} of ${long.length} bytes)`);
    await new Promise((r) => setTimeout(r, 200));
    const logs = s.logs.join('');
    assert.match(logs, /erased while it played/);
    assert.doesNotMatch(logs, /failed verification|internal error|already sent/);
  });

  it('the audit log still verifies, and the patient extract still shows who listened and the erasure', async () => {
    // The call back is held, released and erased too: its events name the patient, its callee.
    for (const hold of [true, false]) assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${callback}/legal-hold`, { hold })).status, 200);
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${callback}/erase`, { basis: 'data_subject_request' })).status, 200);
    await s.running.checkpointer.checkpoint();
    const verify = await runCli(['audit', 'verify', '--data', s.dir]);
    assert.equal(verify.code, 0, verify.stderr);
    const extract = await runCli(['audit', 'extract', '--data', s.dir, '--phone', '0701112233']);
    const { entries } = JSON.parse(extract.stdout) as { entries: Array<{ action: string; recording: string | null }> };
    assert.ok(entries.some((e) => e.action === 'recording.played'));
    assert.deepEqual(entries.filter((e) => e.action === 'recording.erased').map((e) => e.recording).sort(), [id, callback].sort());
    // Filing the call back and its legal hold named its patient too.
    const named = await s.archive.db.selectFrom('audit_events').select(['action', 'patient_pseudonym']).where('object_id', '=', callback)
      .where('action', 'in', ['ingest.completed', 'recording.legal_hold']).orderBy('seq').execute();
    assert.deepEqual(named.map((e) => [e.action, e.patient_pseudonym]), ['ingest.completed', 'recording.legal_hold', 'recording.legal_hold'].map((a) => [a, s.archive.blindIndex.pseudonym('+46701112233')]));
  });
});
