// A recording's whole way: ingest over tus with an ingest key, sealed storage, sign-in with
// password + TOTP, list, play with Range, and the audit trail written before each answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kysely } from 'kysely';
import { makeWav, sineWaveS16 } from '../src/ingest/wav.ts';
import { enrollSupervisor, ingestKey, signIn, startTestServer, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

describe('ingest, sign-in and playback end to end', () => {
  let s: TestServer;
  let session: SessionCreds;
  let key: string;
  let id: string;
  const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, samples: sineWaveS16({ sampleRate: 8000, seconds: 20, hz: 440 }) });

  before(async () => {
    s = await startTestServer();
    key = await ingestKey(s);
    const admin = await enrollSupervisor(s);
    session = await signIn(s, admin);
  });
  after(() => s.close());

  it('takes a WAV over tus and files it under a random id', async () => {
    const url = await tusUpload(s.url, key, wav, {
      callId: 'pbx-4711', startedAt: '2026-11-25T08:30:00+01:00', direction: 'inbound', careUnit: '1177 Stockholm',
      agentId: 'nurse-17', caller: '070-123 45 67', callee: '+46 771 11 77 00', filename: 'call-0701234567.wav', filetype: 'audio/wav',
    }, { chunkSize: 100_000 });
    id = recordingIdOf(url);
    assert.ok(url.startsWith(`${s.url}/api/v1/uploads/`));
  });

  it('lists it for the signed-in supervisor, newest first, and audits the listing first', async () => {
    const res = await fetch(`${s.url}/api/v1/recordings`, { headers: { cookie: session.cookie } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { items: Array<Record<string, unknown>>; next: string | null };
    assert.equal(body.items.length, 1);
    const r = body.items[0]!;
    assert.equal(r.id, id);
    assert.equal(r.callId, 'pbx-4711');
    assert.equal(r.startedAt, '2026-11-25T07:30:00.000Z');
    assert.equal(r.durationMs, 20_000);
    assert.equal(r.codec, 'pcm_s16le');
    assert.equal(r.careUnit, '1177 Stockholm');
    assert.equal(r.sizeBytes, wav.length);
    assert.equal(body.next, null);
    const events = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'recordings.listed').execute();
    assert.equal(events.length, 1);
    assert.equal(JSON.parse(events[0]!.details!).count, 1);
  });

  it('shows metadata with the numbers in E.164, and finds the call by caller number', async () => {
    const res = await fetch(`${s.url}/api/v1/recordings/${id}`, { headers: { cookie: session.cookie } });
    const r = (await res.json()) as Record<string, unknown>;
    assert.equal(r.caller, '+46701234567');
    assert.equal(r.callee, '+46771117700');
    const search = (caller: string) => fetch(`${s.url}/api/v1/recordings/search`, {
      method: 'POST', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, 'content-type': 'application/json' }, body: JSON.stringify({ caller }),
    });
    const found = await search('+46701234567');
    assert.equal(((await found.json()) as { items: unknown[] }).items.length, 1);
    const other = await search('0701234568');
    assert.equal(((await other.json()) as { items: unknown[] }).items.length, 0);
  });

  it('plays the exact original bytes, whole and by Range (206 with Content-Range)', async () => {
    const whole = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('accept-ranges'), 'bytes');
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), wav);

    for (const [start, end] of [[0, 43], [65_530, 65_545], [200_000, 319_999], [wav.length - 10, wav.length - 1]] as const) {
      const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie, range: `bytes=${start}-${end}` } });
      assert.equal(res.status, 206);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${wav.length}`);
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), wav.subarray(start, end + 1));
    }
    const open = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie, range: 'bytes=300000-' } });
    assert.equal(open.status, 206);
    assert.deepEqual(Buffer.from(await open.arrayBuffer()), wav.subarray(300_000));
    const suffix = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie, range: 'bytes=-100' } });
    assert.deepEqual(Buffer.from(await suffix.arrayBuffer()), wav.subarray(wav.length - 100));
    const beyond = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie, range: `bytes=${wav.length}-` } });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${wav.length}`);
    // The audio has no validator, so no If-Range matches: the Range is ignored, the whole recording sent.
    const ifRange = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie, range: 'bytes=0-9', 'if-range': '"some-etag"' } });
    assert.equal(ifRange.status, 200);
    assert.equal(ifRange.headers.get('content-range'), null);
    assert.deepEqual(Buffer.from(await ifRange.arrayBuffer()), wav);
  });

  it('audits every play with its byte range', async () => {
    const plays = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'recording.played').orderBy('seq').execute();
    assert.equal(plays.length, 8);
    assert.deepEqual(JSON.parse(plays[1]!.details!), { role: 'supervisor', start: 0, end: 44 });
    assert.deepEqual(JSON.parse(plays[7]!.details!), { role: 'supervisor', start: 0, end: wav.length }, 'the If-Range play, whole');
    assert.ok(plays.every((p) => p.object_id === id && p.actor_type === 'user' && p.patient_pseudonym?.length === 32));
  });

  it('answers 404 for a recording that does not exist, and audits the attempt', async () => {
    const res = await fetch(`${s.url}/api/v1/recordings/${'0'.repeat(32)}/audio`, { headers: { cookie: session.cookie } });
    assert.equal(res.status, 404);
    const denied = await s.archive.db.selectFrom('audit_events').select('action').where('action', '=', 'recording.denied').execute();
    assert.equal(denied.length, 1);
  });

  it('refuses audio when the audit log cannot be written: 503 and not one byte', async () => {
    // The catalog refuses audit inserts (a SQLite or PostgreSQL trigger, as the migrations make them).
    const { allow, refuse } = await import('../src/catalog/migrations/guards.ts');
    await refuse(s.archive.db as Kysely<unknown>, 'audit_events', ['INSERT'], 'disk full');
    try {
      const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('content-type')?.startsWith('application/json'), true);
      const body = await res.text();
      assert.ok(!body.includes('RIFF'));
      const list = await fetch(`${s.url}/api/v1/recordings`, { headers: { cookie: session.cookie } });
      assert.equal(list.status, 503);
    } finally {
      await allow(s.archive.db as Kysely<unknown>, 'audit_events', 'INSERT');
    }
  });
});
