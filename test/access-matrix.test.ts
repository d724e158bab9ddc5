// Need-to-know, proven route by route: every route that touches a recording, asked by every
// kind of principal. Each denial sits in the same table as the positive control that must
// succeed on the same route and recording, so a route that denied everyone would fail too.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { generateIdentity } from '../src/seal/index.ts';
import { makeWav } from '../src/ingest/wav.ts';
import { enrollPerson, ingestKey, signIn, startTestServer, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';
import { describeRoutes } from '../src/cli/server.ts';

type Who = 'agent' | 'otherAgent' | 'sameUnit' | 'otherUnit' | 'privacy' | 'anonymous' | 'expired' | 'disabled' | 'ingest' | 'auditor' | 'administrator';
type Route = 'list' | 'search' | 'perDay' | 'view' | 'audio' | 'waveform' | 'history' | 'download' | 'export' | 'legalHold' | 'breakGlass' | 'erase';

// Each route of the table, by the method and path it is registered under: every registered
// route tagged `recordings` must be here (checked below), so a new one cannot escape the matrix.
const ROUTE_OF: Record<Route, string> = {
  list: 'GET /api/v1/recordings',
  search: 'POST /api/v1/recordings/search',
  perDay: 'GET /api/v1/recordings/per-day',
  view: 'GET /api/v1/recordings/:id',
  audio: 'GET /api/v1/recordings/:id/audio',
  waveform: 'GET /api/v1/recordings/:id/waveform',
  history: 'GET /api/v1/recordings/:id/history',
  download: 'GET /api/v1/recordings/:id/download',
  export: 'POST /api/v1/recordings/:id/export',
  legalHold: 'POST /api/v1/recordings/:id/legal-hold',
  breakGlass: 'POST /api/v1/recordings/:id/break-glass',
  erase: 'POST /api/v1/recordings/:id/erase',
};

// Expected status per route and principal; 'listed'/'unlisted' for whether the list route's
// items, or the per-day route's counts, include the recording.
// 403* is a 403 that offers break-glass (code break_glass_available).
type Want = number | 'listed' | 'unlisted' | '403*';
const EXPECTED: Record<Who, Record<Route, Want>> = {
  agent: { list: 'listed', search: 'listed', perDay: 'listed', view: 200, audio: 206, waveform: 200, history: 403, download: 403, export: 403, legalHold: 403, breakGlass: 409, erase: 403 },
  otherAgent: { list: 'unlisted', search: 'unlisted', perDay: 'unlisted', view: '403*', audio: '403*', waveform: '403*', history: 403, download: 403, export: 403, legalHold: 403, breakGlass: 201, erase: 403 },
  sameUnit: { list: 'listed', search: 'listed', perDay: 'listed', view: 200, audio: 206, waveform: 200, history: 200, download: 200, export: 200, legalHold: 403, breakGlass: 409, erase: 403 },
  otherUnit: { list: 'unlisted', search: 'unlisted', perDay: 'unlisted', view: '403*', audio: '403*', waveform: '403*', history: 404, download: 404, export: 404, legalHold: 403, breakGlass: 201, erase: 403 },
  privacy: { list: 'listed', search: 'listed', perDay: 'listed', view: 200, audio: 403, waveform: 403, history: 200, download: 403, export: 200, legalHold: 200, breakGlass: 403, erase: 200 },
  anonymous: { list: 401, search: 401, perDay: 401, view: 401, audio: 401, waveform: 401, history: 401, download: 401, export: 401, legalHold: 401, breakGlass: 401, erase: 401 },
  expired: { list: 401, search: 401, perDay: 401, view: 401, audio: 401, waveform: 401, history: 401, download: 401, export: 401, legalHold: 401, breakGlass: 401, erase: 401 },
  disabled: { list: 401, search: 401, perDay: 401, view: 401, audio: 401, waveform: 401, history: 401, download: 401, export: 401, legalHold: 401, breakGlass: 401, erase: 401 },
  ingest: { list: 403, search: 403, perDay: 403, view: 403, audio: 403, waveform: 403, history: 403, download: 403, export: 403, legalHold: 403, breakGlass: 403, erase: 403 },
  auditor: { list: 403, search: 403, perDay: 403, view: 403, audio: 403, waveform: 403, history: 403, download: 403, export: 403, legalHold: 403, breakGlass: 403, erase: 403 },
  administrator: { list: 403, search: 403, perDay: 403, view: 403, audio: 403, waveform: 403, history: 403, download: 403, export: 403, legalHold: 403, breakGlass: 403, erase: 403 },
};
// Break-glass comes late: a grant it makes changes what view and audio answer afterwards.
// Erasure is last, and its positive control (the privacy officer) runs after every other row.
const ROUTES: Route[] = ['list', 'search', 'perDay', 'view', 'audio', 'waveform', 'history', 'download', 'export', 'legalHold', 'breakGlass', 'erase'];
const BODIES: Partial<Record<Route, (recipient: string) => unknown>> = {
  search: () => ({ careUnit: 'Unit A', caller: '0701234567' }),
  export: (recipient) => ({ recipient }),
  legalHold: () => ({ hold: false }),
  erase: () => ({ basis: 'data_subject_request' }),
  breakGlass: () => ({ reason: 'caller in acute distress, their nurse is away' }),
};
const QUERIES: Partial<Record<Route, string>> = {
  list: `?careUnit=${encodeURIComponent('Unit A')}`,
  perDay: '?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z',
  waveform: '?points=50',
};

describe('access matrix over every route that touches a recording', () => {
  let s: TestServer;
  let id: string;
  const creds = new Map<Who, Record<string, string>>();
  const recipient = generateIdentity().recipient;

  before(async () => {
    s = await startTestServer();
    const key = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(16000).fill(0x55) });
    id = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Unit A', agentId: 'agent-1', caller: '0701234567' }));
    const people: Array<[Who, Parameters<typeof enrollPerson>[2]]> = [
      ['agent', { roles: ['agent'], agentId: 'agent-1' }],
      ['otherAgent', { roles: ['agent'], agentId: 'agent-2' }],
      ['sameUnit', { roles: ['supervisor'], careUnits: ['Unit A'] }],
      ['otherUnit', { roles: ['supervisor'], careUnits: ['Unit B'] }],
      ['privacy', { roles: ['privacy_officer'] }],
      ['expired', { roles: ['supervisor'], careUnits: ['Unit A'] }],
      ['disabled', { roles: ['supervisor'], careUnits: ['Unit A'] }],
      ['auditor', { roles: ['auditor'] }],
      ['administrator', { roles: ['administrator'] }],
    ];
    const sessions = new Map<Who, SessionCreds>();
    for (const [who, assignment] of people) {
      const c = await signIn(s, await enrollPerson(s, who.toLowerCase(), assignment));
      sessions.set(who, c);
      creds.set(who, { cookie: c.cookie, 'x-csrf-token': c.csrf });
    }
    creds.set('anonymous', {});
    creds.set('ingest', { authorization: `Bearer ${key}` });
    // An idle session: its last request was 16 minutes ago.
    await s.archive.db.updateTable('sessions').set({ last_seen_at: Date.now() - 16 * 60_000 })
      .where('user_id', '=', (await s.archive.users.byUsername('expired'))!.id).execute();
    // A disabled person, through the API as an administrator would.
    const admin = sessions.get('administrator')!;
    const disabled = await s.archive.users.byUsername('disabled');
    const res = await fetch(`${s.url}/api/v1/users/${disabled!.id}/disable`, { method: 'POST', headers: { cookie: admin.cookie, 'x-csrf-token': admin.csrf } });
    assert.equal(res.status, 200);
  });
  after(() => s.close());

  async function ask(who: Who, route: Route): Promise<{ status: number; body: string }> {
    const h = creds.get(who)!;
    const [method, pattern] = ROUTE_OF[route].split(' ') as [string, string];
    const url = `${s.url}${pattern.replace(':id', id)}${QUERIES[route] ?? ''}`;
    const body = BODIES[route]?.(recipient);
    const headers = { ...h, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(route === 'audio' ? { range: 'bytes=0-99' } : {}) };
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: route === 'download' || route === 'audio' || route === 'export' ? (res.ok ? `${(await res.arrayBuffer()).byteLength} bytes` : await res.text()) : await res.text() };
  }

  /** Whether a successful list or per-day answer counts the recording. */
  function includes(route: Route, body: string): boolean {
    if (route === 'perDay') return (JSON.parse(body) as { days: Array<{ day: string; calls: number }> }).days.some((d) => d.day === '2026-11-25' && d.calls > 0);
    return (JSON.parse(body) as { items: Array<{ id: string }> }).items.some((i) => i.id === id);
  }

  it('the table covers every registered route tagged recordings', () => {
    const registered = s.running.routes.filter((r) => r.tag === 'recordings').map((r) => `${r.method} ${r.url}`);
    assert.deepEqual([...registered].sort(), Object.values(ROUTE_OF).sort(), 'a recording route missing from (or stale in) the access matrix');
    const documented = describeRoutes().filter((r) => r.tag === 'recordings').map((r) => `${r.method} ${r.url}`);
    assert.deepEqual([...documented].sort(), Object.values(ROUTE_OF).sort(), 'a documented recording route missing from the access matrix');
  });

  for (const who of Object.keys(EXPECTED) as Who[]) {
    it(`${who}: ${ROUTES.map((r) => `${r} ${EXPECTED[who][r]}`).join(', ')}`, async () => {
      for (const route of ROUTES) {
        if (who === 'privacy' && route === 'erase') continue; // last of all, below
        const want = EXPECTED[who][route];
        const got = await ask(who, route);
        const where = `${who} ${route}: ${got.status} ${got.body.slice(0, 200)}`;
        if (want === 'listed' || want === 'unlisted') {
          assert.equal(got.status, 200, where);
          assert.equal(includes(route, got.body), want === 'listed', where);
        } else if (want === '403*') {
          assert.equal(got.status, 403, where);
          assert.equal((JSON.parse(got.body) as { code?: string }).code, 'break_glass_available', where);
        } else {
          assert.equal(got.status, want, where);
          if (want === 403) assert.notEqual((JSON.parse(got.body) as { code?: string }).code, 'break_glass_available', where);
        }
      }
    });
  }

  it('every route has a principal that succeeds on it (the positive controls)', () => {
    for (const route of ROUTES) {
      const ok = (Object.keys(EXPECTED) as Who[]).filter((w) => { const v = EXPECTED[w][route]; return v === 'listed' || (typeof v === 'number' && v < 300); });
      assert.ok(ok.length > 0, route);
    }
  });

  it('after break-glass, the grantee views and plays that recording, and only that', async () => {
    for (const who of ['otherUnit', 'otherAgent'] as const) {
      assert.equal((await ask(who, 'view')).status, 200, who);
      assert.equal((await ask(who, 'audio')).status, 206, who);
      assert.equal((await ask(who, 'waveform')).status, 200, who);
      const perDay = await ask(who, 'perDay');
      assert.equal(perDay.status, 200, who);
      assert.ok(includes('perDay', perDay.body), `${who}: a grant counts its recording in the calls per day`);
      assert.equal((await ask(who, 'history')).status, who === 'otherUnit' ? 404 : 403, who);
      assert.equal((await ask(who, 'download')).status, who === 'otherUnit' ? 404 : 403, who);
    }
  });

  it('every denial by a known principal is in the audit log; every answer with audio too', async () => {
    const rows = await s.archive.db.selectFrom('audit_events').select(['action', 'actor_id', 'outcome', 'details']).where('object_id', '=', id).execute();
    const denials = rows.filter((r) => r.action === 'recording.denied');
    const otherUnit = (await s.archive.users.byUsername('otherunit'))!.id;
    assert.ok(denials.some((d) => d.actor_id === otherUnit && JSON.parse(d.details!).permission === 'recordings:view'));
    assert.ok(denials.some((d) => d.actor_id === otherUnit && JSON.parse(d.details!).permission === 'recordings:download'));
    const routeDenials = await s.archive.db.selectFrom('audit_events').select(['actor_id', 'details']).where('action', '=', 'recording.denied').where('object_id', 'is', null).execute();
    const auditor = (await s.archive.users.byUsername('auditor'))!.id;
    assert.ok(routeDenials.some((d) => d.actor_id === auditor), 'a role without the permission is audited too');
    assert.ok(rows.some((r) => r.action === 'recording.downloaded'));
    assert.ok(rows.some((r) => r.action === 'recording.exported'));
    assert.equal(rows.filter((r) => r.action === 'access.break_glass').length, 2);
  });

  it('privacy officer: erase 200 (the positive control of erasure), after which nobody finds it', async () => {
    const got = await ask('privacy', 'erase');
    assert.equal(got.status, 200, got.body);
    for (const who of ['sameUnit', 'privacy', 'otherUnit'] as const) assert.equal((await ask(who, 'view')).status, 404, who);
  });
});
