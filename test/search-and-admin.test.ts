// Search filters and counts, the waveform and a recording's access history, and what
// administrators manage besides people: API keys and the settings view.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeG711, makeWav, sineWaveS16 } from '../src/ingest/wav.ts';
import { enrollPerson, ingestKey, signIn, startTestServer, sendAs as send, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

const at = (h: number) => `2026-11-25T${String(h).padStart(2, '0')}:00:00Z`;

/** Stereo G.711 u-law: a loud tone on the left (caller) leg, silence on the right. */
function leftOnlyStereo(seconds: number): Buffer {
  const mono = new Int16Array(sineWaveS16({ sampleRate: 8000, seconds, hz: 440 }).buffer);
  const stereo = new Int16Array(mono.length * 2);
  for (let i = 0; i < mono.length; i++) stereo[2 * i] = mono[i]!;
  const g = encodeG711(new Uint8Array(stereo.buffer), 'pcmu');
  return makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 2, samples: g });
}

describe('search, waveform, history, keys and settings', () => {
  let s: TestServer;
  let key: string;
  const ids: Record<string, string> = {};
  let nurse: SessionCreds;
  let admin: SessionCreds;
  let auditor: SessionCreds;
  let agent: SessionCreds;

  before(async () => {
    s = await startTestServer();
    key = await ingestKey(s);
    const pcm = (seconds: number) => makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, samples: sineWaveS16({ sampleRate: 8000, seconds, hz: 300 }) });
    ids.short = recordingIdOf(await tusUpload(s.url, key, pcm(2), { startedAt: at(8), direction: 'inbound', careUnit: 'Norr', agentId: 'a-1', caller: '0701112233' }));
    // A call back to the same person: their number is the callee.
    ids.long = recordingIdOf(await tusUpload(s.url, key, pcm(30), { startedAt: at(9), direction: 'outbound', careUnit: 'Norr', agentId: 'a-2', callee: '070-111 22 33' }));
    ids.stereo = recordingIdOf(await tusUpload(s.url, key, leftOnlyStereo(4), { startedAt: at(10), direction: 'inbound', careUnit: 'Syd', agentId: 'a-1' }));
    ids.flagged = recordingIdOf(await tusUpload(s.url, key, pcm(3), { startedAt: at(11), direction: 'inbound', careUnit: 'Syd' }));
    ids.lookalike = recordingIdOf(await tusUpload(s.url, key, pcm(3), { startedAt: at(12), direction: 'inbound', careUnit: 'Syd' }));
    await s.archive.db.updateTable('recordings').set({ flags: '["truncated_by_crash"]' }).where('id', '=', ids.flagged).execute();
    // Not a real flag: it matches truncated_by_crash only if LIKE's "_" were left a wildcard.
    await s.archive.db.updateTable('recordings').set({ flags: '["truncatedXbyXcrash"]' }).where('id', '=', ids.lookalike).execute();
    nurse = await signIn(s, await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['*'] }));
    admin = await signIn(s, await enrollPerson(s, 'admin', { roles: ['administrator'] }));
    auditor = await signIn(s, await enrollPerson(s, 'auditor', { roles: ['auditor'] }));
    agent = await signIn(s, await enrollPerson(s, 'agent', { roles: ['agent'], agentId: 'a-1' }));
  });
  after(() => s.close());

  const search = async (c: SessionCreds, q: string) => {
    const res = await send(s, c, 'GET', `/api/v1/recordings?${q}`);
    assert.equal(res.status, 200, q);
    return (await res.json()) as { items: Array<{ id: string }>; next: string | null; count?: { value: number; capped: boolean } };
  };

  it('filters by duration, direction, agent and flag, with a count of the whole result', async () => {
    assert.deepEqual((await search(nurse, 'minDurationMs=10000')).items.map((i) => i.id), [ids.long]);
    assert.deepEqual((await search(nurse, 'maxDurationMs=2500')).items.map((i) => i.id), [ids.short]);
    assert.deepEqual((await search(nurse, 'direction=outbound')).items.map((i) => i.id), [ids.long]);
    assert.deepEqual((await search(nurse, 'agent=a-1')).items.map((i) => i.id), [ids.stereo, ids.short]);
    assert.deepEqual((await search(nurse, 'flag=truncated_by_crash')).items.map((i) => i.id), [ids.flagged]);
    const paged = await search(nurse, 'limit=2');
    assert.deepEqual(paged.count, { value: 5, capped: false });
    assert.equal(paged.items.length, 2);
    const rest = await search(nurse, `limit=2&cursor=${encodeURIComponent(paged.next!)}`);
    assert.equal(rest.count, undefined, 'paging on does not count again');
    assert.equal((await search(agent, '')).count?.value, 2, 'the count stays within the scope');
    assert.equal((await send(s, nurse, 'GET', '/api/v1/recordings?flag=made_up')).status, 400);
    assert.equal((await send(s, nurse, 'GET', '/api/v1/recordings?minDurationMs=-1')).status, 400);
    // Days that do not exist are refused, not rolled over into the next month; loose forms too.
    for (const bound of ['from=2026-02-30', 'to=2026-04-31T00:00:00Z', 'from=March%207', 'from=1']) {
      const res = await send(s, nurse, 'GET', `/api/v1/recordings?${bound}`);
      assert.equal(res.status, 400, bound);
      assert.match(((await res.json()) as { error: string }).error, /real ISO 8601 date/, bound);
    }
    assert.equal((await send(s, nurse, 'GET', '/api/v1/recordings?from=2026-02-28&to=2026-03-01T00:00:00%2B01:00')).status, 200);
  });

  it('searches by a person\'s number with POST (the number in the body, never the URL): calls from them and calls to them; same paging, validation and audit', async () => {
    const post = async (c: SessionCreds, body: unknown) => {
      const res = await send(s, c, 'POST', '/api/v1/recordings/search', body);
      assert.equal(res.status, 200, JSON.stringify(body));
      return (await res.json()) as { items: Array<{ id: string }>; next: string | null; count?: { value: number; capped: boolean } };
    };
    const byCaller = await post(nurse, { caller: '070-111 22 33' });
    assert.deepEqual(byCaller.items.map((i) => i.id), [ids.long, ids.short]);
    assert.deepEqual(byCaller.count, { value: 2, capped: false });
    assert.deepEqual((await post(nurse, { caller: '+46701112233', direction: 'outbound' })).items.map((i) => i.id), [ids.long]);
    assert.deepEqual((await post(nurse, { caller: '+46701112234' })).items, []);
    assert.deepEqual((await post(nurse, { agent: 'a-1', minDurationMs: 3000 })).items.map((i) => i.id), [ids.stereo]);
    const paged = await post(nurse, { limit: 2 });
    assert.deepEqual(paged.count, { value: 5, capped: false });
    const rest = await post(nurse, { limit: 2, cursor: paged.next });
    assert.equal(rest.count, undefined, 'paging on does not count again');
    assert.deepEqual([...paged.items, ...rest.items].map((i) => i.id), (await search(nurse, 'limit=4')).items.map((i) => i.id));
    assert.equal((await post(agent, {})).count?.value, 2, 'the same scope as the list');
    const listed = await s.archive.db.selectFrom('audit_events').select(['details', 'patient_pseudonym']).where('action', '=', 'recordings.listed').orderBy('seq', 'desc').limit(20).execute();
    const withCaller = listed.find((e) => JSON.parse(e.details!).filters.caller === true);
    assert.ok(withCaller?.patient_pseudonym, 'a search by number is audited with the patient pseudonym');
    assert.ok(!listed.some((e) => e.details!.includes('1112233')), 'the number itself is not in the log');
    for (const bad of [{ caller: 'not a number' }, { flag: 'made_up' }, { minDurationMs: -1 }, { limit: '10' }, { callee: '0701112233' }, { cursor: 'x' }]) {
      assert.equal((await send(s, nurse, 'POST', '/api/v1/recordings/search', bad)).status, 400, JSON.stringify(bad));
    }
    assert.equal((await send(s, auditor, 'POST', '/api/v1/recordings/search', {})).status, 403);
  });

  it('refuses a caller or callee number in the URL with an answer that says to search with POST', async () => {
    for (const q of ['caller=0701112233', 'callee=%2B46701112233', 'careUnit=Norr&caller=x']) {
      const res = await send(s, nurse, 'GET', `/api/v1/recordings?${q}`);
      assert.equal(res.status, 400, q);
      const body = (await res.json()) as { error: string; code: string };
      assert.equal(body.code, 'number_in_url');
      assert.match(body.error, /POST \/api\/v1\/recordings\/search/);
    }
  });

  it('draws a waveform per leg from the sealed audio, audited; not for those who may not play', async () => {
    const res = await send(s, nurse, 'GET', `/api/v1/recordings/${ids.stereo}/waveform?points=100`);
    assert.equal(res.status, 200);
    const w = (await res.json()) as { channels: number; durationMs: number; peaks: number[][] };
    assert.equal(w.channels, 2);
    assert.equal(w.durationMs, 4000);
    assert.equal(w.peaks[0]!.length, 100);
    assert.ok(Math.min(...w.peaks[0]!) > 0.4, 'the caller leg is loud throughout');
    assert.ok(Math.max(...w.peaks[1]!) < 0.01, 'the agent leg is silent');
    const mono = (await (await send(s, nurse, 'GET', `/api/v1/recordings/${ids.short}/waveform?points=50`)).json()) as { peaks: number[][] };
    assert.equal(mono.peaks.length, 1);
    assert.ok(Math.max(...mono.peaks[0]!) > 0.4);
    assert.equal((await send(s, auditor, 'GET', `/api/v1/recordings/${ids.short}/waveform`)).status, 403);
    assert.equal((await send(s, nurse, 'GET', `/api/v1/recordings/${ids.short}/waveform?points=5`)).status, 400);
    const viewed = await s.archive.db.selectFrom('audit_events').select('details').where('action', '=', 'recording.viewed').where('object_id', '=', ids.stereo).execute();
    assert.ok(viewed.some((v) => JSON.parse(v.details!).part === 'waveform'));
  });

  it("shows a recording's own access history to its supervisor, not to an agent", async () => {
    const h = await send(s, nurse, 'GET', `/api/v1/recordings/${ids.stereo}/history`);
    assert.equal(h.status, 200);
    const { items } = (await h.json()) as { items: Array<{ action: string }> };
    assert.ok(items.some((i) => i.action === 'recording.viewed'));
    assert.ok(items.some((i) => i.action === 'ingest.completed'));
    assert.equal((await send(s, agent, 'GET', `/api/v1/recordings/${ids.stereo}/history`)).status, 403);
  });

  it('administrators create, list and revoke API keys; the secret is shown once and works until revoked', async () => {
    assert.equal((await send(s, nurse, 'GET', '/api/v1/keys')).status, 403);
    const created = await send(s, admin, 'POST', '/api/v1/keys', { name: 'pbx-2', scope: 'ingest', allow: ['127.0.0.0/8'], ratePerS: 50 });
    assert.equal(created.status, 201);
    const { id, token } = (await created.json()) as { id: string; token: string };
    const listed = await (await send(s, admin, 'GET', '/api/v1/keys')).text();
    assert.ok(listed.includes(id) && !listed.includes(token.split('_').slice(2).join('_')), 'listed without its secret');
    const pcm = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(800).fill(0x7f) });
    await tusUpload(s.url, token, pcm, { startedAt: at(13), direction: 'inbound', careUnit: 'Norr' });
    assert.equal((await send(s, admin, 'POST', `/api/v1/keys/${id}/revoke`)).status, 204);
    await assert.rejects(tusUpload(s.url, token, pcm, { startedAt: at(14), direction: 'inbound', careUnit: 'Norr' }));
    assert.equal((await send(s, admin, 'POST', `/api/v1/keys/${id}/revoke`)).status, 404);
    assert.equal((await send(s, admin, 'POST', '/api/v1/keys', { name: 'x', scope: 'ingest', allow: ['not-a-range'] })).status, 400);
    assert.equal((await send(s, admin, 'POST', '/api/v1/keys', { name: 'x', scope: 'read' })).status, 400);
  });

  it('shows the settings to administrators only, without secrets', async () => {
    const res = await send(s, admin, 'GET', '/api/v1/settings');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { publicUrl: string; sessions: { idleMinutes: number }; breakGlassMinutes: number };
    assert.equal(body.publicUrl, s.url, 'the address listened on, with the port bound (it was asked for port 0)');
    assert.equal(body.sessions.idleMinutes, 15);
    assert.equal(body.breakGlassMinutes, 60);
    assert.equal((await send(s, auditor, 'GET', '/api/v1/settings')).status, 403);
  });
});
