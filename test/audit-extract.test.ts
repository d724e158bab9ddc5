// A patient's log extract: every access to their calls, and nobody else's; itself audited.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CompiledQuery, type Kysely } from 'kysely';
import { accessEvents } from '../src/audit/extract.ts';
import { dialectOf } from '../src/catalog/dialect.ts';
import { makeWav } from '../src/ingest/wav.ts';
import { enrollPerson, enrollSupervisor, ingestKey, sendAs, signIn, startTestServer, type TestServer } from './helpers/archive.ts';
import { catalogEnv } from './helpers/catalog.ts';
import { BIN, cleanEnv, runCli } from './helpers/cli.ts';
import { metaHeader, recordingIdOf, tusUpload } from './helpers/tus.ts';

describe('patient log extract', () => {
  let s: TestServer;
  let mine: string;
  let other: string;
  let callback: string;

  before(async () => {
    s = await startTestServer();
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(16000).fill(0x55) });
    mine = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Vårdcentral Norr', caller: '070-111 22 33' }));
    other = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T09:00:00Z', direction: 'inbound', careUnit: 'unit-b', caller: '070-999 88 77' }));
    // The nurse calls the patient back: the patient is the callee of an outbound call.
    callback = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T10:00:00Z', direction: 'outbound', careUnit: 'Vårdcentral Norr', callee: '070-111 22 33' }));
    const admin = await signIn(s, await enrollSupervisor(s));
    for (const [id, range] of [[mine, 'bytes=0-99'], [mine, 'bytes=100-199'], [other, 'bytes=0-9'], [callback, 'bytes=200-299']] as const) {
      const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: admin.cookie, range } });
      assert.equal(res.status, 206);
      await res.arrayBuffer();
    }
    await fetch(`${s.url}/api/v1/recordings/${mine}`, { headers: { cookie: admin.cookie } }).then((r) => r.arrayBuffer());
  });
  after(() => s.close());

  it('lists every access to the patient\'s calls, and only those (JSON)', async () => {
    const res = await runCli(['audit', 'extract', '--data', s.dir, '--phone', '+46701112233']);
    assert.equal(res.code, 0, res.stderr);
    const { entries } = JSON.parse(res.stdout) as { entries: Array<{ action: string; recording: string; careUnit: string; actor: { role: string; id: string }; range?: { start: number } }> };
    const actions = entries.map((e) => e.action);
    assert.deepEqual(actions.filter((a) => a === 'recording.played').length, 3, 'the calls from the patient and the call back to them');
    assert.ok(actions.includes('recording.viewed'));
    assert.ok(entries.every((e) => e.recording === mine || e.recording === callback || e.recording === null));
    assert.ok(entries.every((e) => e.careUnit === 'Vårdcentral Norr' || e.recording === null));
    assert.deepEqual(entries.filter((e) => e.range).map((e) => e.range!.start), [0, 100, 200]);
    assert.ok(entries.every((e) => e.actor.role === 'supervisor' && /^[0-9a-f]{32}$/.test(e.actor.id)));
    assert.ok(!res.stdout.includes('0701112233') && !res.stdout.includes('+46701112233'), 'the number is not printed');
    const play = await s.archive.db.selectFrom('audit_events').select('patient_pseudonym').where('action', '=', 'recording.played').where('object_id', '=', callback).executeTakeFirstOrThrow();
    assert.equal(play.patient_pseudonym, s.archive.blindIndex.pseudonym('+46701112233'), 'the patient of a call back is its callee');
  });

  it('reads a patient\'s events through indexes, never the whole log', async () => {
    // A log kept for years holds hundreds of millions of entries: a full read per extract would
    // take minutes. Both halves of the query (events naming the patient, events about their
    // calls) must be served by an index, on either catalog.
    const db = s.archive.db;
    const q = accessEvents(db, s.archive.blindIndex.pseudonym('+46701112233'), [mine, callback]).compile();
    const plan = dialectOf(db as Kysely<unknown>) === 'sqlite'
      ? (await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]))).rows.map((r) => r.detail).join('\n')
      : await db.transaction().execute(async (trx) => {
        // A small log would be scanned whole anyway; the question is whether the indexes can serve.
        await trx.executeQuery(CompiledQuery.raw('set local enable_seqscan = off'));
        return (await trx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain ${q.sql}`, [...q.parameters]))).rows.map((r) => r['QUERY PLAN']).join('\n');
      });
    assert.match(plan, /audit_patient/, plan);
    assert.match(plan, /audit_object/, plan);
    assert.doesNotMatch(plan, /SCAN audit_events\b(?! USING)|Seq Scan/, plan);
  });

  it('prints a self-contained page with everything escaped (HTML)', async () => {
    const out = join(s.dir, '..', 'extract.html');
    const res = await runCli(['audit', 'extract', '--data', s.dir, '--phone', '0701112233', '--format', 'html', '--out', out]);
    assert.equal(res.code, 0, res.stderr);
    const html = await readFile(out, 'utf8');
    assert.match(html, /PDL|patientdatalagen/);
    assert.ok(html.includes('Vårdcentral Norr'));
    // Everything printed is escaped, whatever a field holds.
    const { extractHtml } = await import('../src/audit/extract.ts');
    const page = extractHtml([{ seq: 1, at: '2026-11-25T08:00:00.000Z', action: 'recording.played', what: { en: 'x', sv: 'y' }, recording: '<img src=x>', careUnit: '"><script>', actor: { type: 'user', role: '<b>' }, outcome: 'success', emergencyAccess: false }], { producedAt: 'now', subject: '<i>' });
    assert.ok(!/<script|<img|<b>|<i>/.test(page), page);
    assert.equal((html.match(/lyssnade på samtalet/g) ?? []).length, 3);
    assert.ok(!/<script|src=|href=/.test(html), 'no scripts, no external resources');
  });

  it('producing an extract is itself audited, and bad identifiers are refused without being echoed', async () => {
    const rows = await s.archive.db.selectFrom('audit_events').select(['action', 'patient_pseudonym']).where('action', '=', 'audit.extract_produced').execute();
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.patient_pseudonym, s.archive.blindIndex.pseudonym('+46701112233'));
    const bad = await runCli(['audit', 'extract', '--data', s.dir, '--personnummer', '19811218-9877']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /check digit/);
    assert.ok(!bad.stderr.includes('9877'));
    const none = await runCli(['audit', 'extract', '--data', s.dir, '--personnummer', '19811218-9876']);
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(JSON.parse(none.stdout).entries, []);
    const both = await runCli(['audit', 'extract', '--data', s.dir]);
    assert.equal(both.code, 2);
    // A file that cannot be written (one is there already, or its directory is not): a message,
    // no stack trace, and no extract audited as produced.
    const produced = async () => (await s.archive.db.selectFrom('audit_events').select('seq').where('action', '=', 'audit.extract_produced').execute()).length;
    const before = await produced();
    const there = join(s.dir, '..', 'extract.html'); // written by the test above
    for (const [out, why] of [[there, /exists already/], [join(s.dir, '..', 'no-such-dir', 'x.json'), /directory does not exist/]] as const) {
      const r = await runCli(['audit', 'extract', '--data', s.dir, '--phone', '0701112233', '--out', out]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, why);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    assert.equal(await produced(), before);
  });

  it('the privacy officer, who answers the patient, produces the extract too, and reads nothing else of the log', async () => {
    const officer = await signIn(s, await enrollPerson(s, 'dpo', { roles: ['privacy_officer'] }));
    const res = await sendAs(s, officer, 'POST', '/api/v1/audit/extract', { phone: '0701112233' });
    assert.equal(res.status, 200, await res.clone().text());
    const { entries } = await res.json() as { entries: Array<{ recording: string | null }> };
    assert.ok(entries.some((e) => e.recording === mine));
    assert.equal((await sendAs(s, officer, 'GET', '/api/v1/audit/events')).status, 403, 'the rest of the log is the auditor\'s');
    const nurse = await signIn(s, await enrollSupervisor(s, 'nurse-x'));
    assert.equal((await sendAs(s, nurse, 'POST', '/api/v1/audit/extract', { phone: '0701112233' })).status, 403);
  });

  it('an extract that standard output cannot take (a full disk): exit 1 with the reason, and the log says it was not produced', async () => {
    const produced = (outcome: 'success' | 'failure') => s.archive.db.selectFrom('audit_events').select('seq')
      .where('action', '=', 'audit.extract_produced').where('outcome', '=', outcome).execute().then((r) => r.length);
    const [ok, failed] = [await produced('success'), await produced('failure')];
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [BIN, 'audit', 'extract', '--data', s.dir, '--phone', '0701112233'],
        { stdio: ['ignore', full, 'pipe'], env: cleanEnv(catalogEnv(s.dir)), encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^callvault: cannot write the extract to standard output: ENOSPC/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    } finally {
      closeSync(full);
    }
    // Written first, as every read's event; then its failure.
    assert.equal(await produced('success'), ok + 1);
    assert.equal(await produced('failure'), failed + 1);
  });
});

describe('patient log extract by personnummer declared at ingest', () => {
  it('finds every access to the calls filed with that patient id, and no one else\'s; an invalid id is refused at ingest', async () => {
    const s = await startTestServer();
    try {
      const key = await ingestKey(s);
      const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(8000).fill(0x55) });
      const meta = { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'unit-a' };
      // 19811218-9876 is a valid personnummer (Luhn); 20000115-2388 too; the call from another phone still belongs to the same patient.
      const first = recordingIdOf(await tusUpload(s.url, key, wav, { ...meta, caller: '070-111 22 33', patientId: '19811218-9876' }));
      const second = recordingIdOf(await tusUpload(s.url, key, wav, { ...meta, caller: '070-444 55 66', patientId: '198112189876' }));
      const stranger = recordingIdOf(await tusUpload(s.url, key, wav, { ...meta, caller: '070-777 88 99', patientId: '20000115-2388' }));
      const row = (await s.archive.recordings.get(first))!;
      assert.equal(Buffer.from(row.patient_index!).length, 16, 'kept as a blind index');
      const nurse = await signIn(s, await enrollSupervisor(s));
      for (const id of [first, second, stranger]) {
        const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: nurse.cookie, range: 'bytes=0-99' } });
        assert.equal(res.status, 206);
        await res.arrayBuffer();
      }
      const res = await runCli(['audit', 'extract', '--data', s.dir, '--personnummer', '811218-9876']);
      assert.equal(res.code, 0, res.stderr);
      const { entries } = JSON.parse(res.stdout) as { entries: Array<{ action: string; recording: string }> };
      const played = entries.filter((e) => e.action === 'recording.played').map((e) => e.recording).sort();
      assert.deepEqual(played, [first, second].sort(), 'both of the patient\'s calls, from either phone, and not the stranger\'s');
      // Every written form of it holds the birth date (811218); its last four digits alone could
      // turn up inside a random recording id.
      assert.ok(!res.stdout.includes('811218') && !res.stdout.includes('-9876'), 'the personnummer is not printed');

      const bad = await fetch(`${s.url}/api/v1/uploads`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'tus-resumable': '1.0.0', 'upload-length': String(wav.length), 'upload-metadata': metaHeader({ ...meta, patientId: '19811218-9877' }) },
      });
      assert.equal(bad.status, 400);
      const why = await bad.text();
      assert.match(why, /patientId.*check digit/);
      assert.ok(!why.includes('9877'), 'the number is not echoed');
    } finally {
      await s.close();
    }
  });
});
