// Bad input on every route, two ways:
// - each route the server registers, asked by every kind of principal with malformed path
//   parameters, query strings, bodies and headers (drawn from a fixed seed);
// - each field of a well-formed request of every route that takes a body or a query, spoiled
//   one at a time with each value below, sent by a principal the well-formed request succeeds for,
//   so that the handler behind the schema is reached.
// Every answer is a 4xx with a reason or a success, never a 5xx. Afterwards the server still
// serves, logged no internal error, and its audit log verifies: no half-written record was left
// behind by a refused request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeWav } from '../src/ingest/wav.ts';
import { generateIdentity } from '../src/seal/index.ts';
import { xorshift32 } from '../src/lib/xorshift.ts';
import { auditVerifierKey, logOrigin } from '../src/audit/checkpointer.ts';
import { verifyAuditLog } from '../src/audit/verify.ts';
import { enrollPerson, ingestKey, lastAuditSeq, signIn, startTestServer, type TestServer } from './helpers/archive.ts';
import { metaHeader, recordingIdOf, tusPatch, tusUpload } from './helpers/tus.ts';

type Who = 'anonymous' | 'ingest' | 'administrator' | 'supervisor' | 'agent' | 'auditor' | 'privacy';
const CASES_PER_ROUTE = 8;

// Values that have broken parsers elsewhere: empty, signs and exponents, numbers beyond 2^53,
// NUL and control characters, path traversal, odd Unicode, long strings, dates that do not exist.
const NASTY = ['', ' ', '0', '-1', '-0', '1e309', 'NaN', 'Infinity', '9007199254740993', '99999999999999999999999', '0x10', '1.5',
  'true', 'null', 'undefined', '[]', '{}', '\u0000', 'a\u0000b', '\u0007\u001b[2J', '../../etc/passwd', '..%2F..%2F', '%00', '%', '%ZZ',
  '\u202e\u0631', '\ud800', '😀', 'ä'.repeat(300), 'x'.repeat(70_000), '2026-13-45T25:61:00Z', '2026-02-30', '0000-00-00', '+275760-09-13T00:00:00.001Z',
  '*', '\'; drop table recordings; --', '<script>alert(1)</script>', '$where', '__proto__', 'constructor'];
// What a field is spoiled with: a string of each kind above that a string field may well accept,
// and the other JSON types.
const SPOILERS: unknown[] = ['', ' ', '-1', '1e309', '9007199254740993', '\u0000', 'a\u0000b', '\u0007\u001b[2J', '../../etc/passwd', '%00',
  '\u202e\u0631', '\ud800', '😀', 'ä'.repeat(300), 'x'.repeat(70_000), '2026-02-30', '+275760-09-13T00:00:00.001Z', '*', '\'; drop table recordings; --',
  '__proto__', 0, -1, 0.5, 1e308, 2 ** 53 + 2, true, null, [], ['x'], [1], {}, JSON.parse('{"__proto__":{"admin":true}}'), { nested: 'x' }];

const pathPart = (v: string) => (v === '\ud800' ? '%ED%A0%80' : encodeURIComponent(v));

/** The keys of a route's zod object schema (query or body), where it is one. */
function keysOf(schema: unknown): string[] {
  const s = schema as { shape?: Record<string, unknown>; _zod?: { def?: { shape?: Record<string, unknown>; in?: unknown; innerType?: unknown; schema?: unknown } } } | undefined;
  if (!s) return [];
  const shape = s.shape ?? s._zod?.def?.shape;
  if (shape) return Object.keys(shape);
  const inner = s._zod?.def?.in ?? s._zod?.def?.innerType ?? s._zod?.def?.schema;
  return inner && inner !== schema ? keysOf(inner) : [];
}

describe('bad input on every route', () => {
  let s: TestServer;
  let recording: string;
  const creds = new Map<Who, Record<string, string>>();
  const seen = new Map<number, number>();
  let ingestToken = '';

  before(async () => {
    s = await startTestServer();
    const key = ingestToken = await ingestKey(s);
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(16000).fill(0x55) });
    recording = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Unit A', agentId: 'agent-2', caller: '0701234567' }));
    const people: Array<[Who, Parameters<typeof enrollPerson>[2]]> = [
      ['administrator', { roles: ['administrator'] }],
      ['supervisor', { roles: ['supervisor'], careUnits: ['*'] }],
      ['agent', { roles: ['agent'], agentId: 'agent-1' }],
      ['auditor', { roles: ['auditor'] }],
      ['privacy', { roles: ['privacy_officer'] }],
    ];
    for (const [who, assignment] of people) {
      const c = await signIn(s, await enrollPerson(s, who, assignment));
      creds.set(who, { cookie: c.cookie, 'x-csrf-token': c.csrf });
    }
    creds.set('anonymous', {});
    creds.set('ingest', { authorization: `Bearer ${key}` });
    recipient = generateIdentity().recipient;
    const keyRow = await s.archive.db.selectFrom('api_keys').select('id').executeTakeFirstOrThrow();
    // The person the user routes change: nobody whose session the test uses (a change of roles ends it).
    await enrollPerson(s, 'target', { roles: ['agent'], agentId: 'agent-9' });
    realIds.push(recording, (await s.archive.users.byUsername('target'))!.id, keyRow.id);
  });
  after(() => s?.close());

  // A well-formed request of each route that takes a body or a query, and who sends it: the base
  // that one field is then spoiled in. Each must succeed as it stands (checked), but for those
  // whose success needs a secret the test does not send (`refused`).
  interface WellFormed { who: Who; body?: () => Record<string, unknown>; query?: Record<string, string>; refused?: true }
  const WELL_FORMED: Record<string, WellFormed> = {
    'POST /api/v1/enrollment/start': { who: 'anonymous', body: () => ({ token: 'A'.repeat(43) }), refused: true },
    'POST /api/v1/enrollment/complete': { who: 'anonymous', body: () => ({ token: 'A'.repeat(43), password: 'a long enough passphrase', totpCode: '123456' }), refused: true },
    'POST /api/v1/session/step-up': { who: 'supervisor', body: () => ({ totpCode: '000000' }), refused: true },
    'POST /api/v1/users': { who: 'administrator', body: () => ({ username: `fuzz-${counter++}`, roles: ['agent'], careUnits: [], agentId: `agent-${counter}` }) },
    'PATCH /api/v1/users/:id': { who: 'administrator', body: () => ({ roles: ['agent'], careUnits: [], agentId: 'agent-9' }) },
    'POST /api/v1/keys': { who: 'administrator', body: () => ({ name: `fuzz-${counter++}`, scope: 'ingest', allow: ['10.0.0.0/8'], ratePerS: 10 }) },
    'GET /api/v1/recordings': { who: 'supervisor', query: { careUnit: 'Unit A', from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', agent: 'agent-2', callId: 'c-1', limit: '10' } },
    'POST /api/v1/recordings/search': { who: 'supervisor', body: () => ({ careUnit: 'Unit A', from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', caller: '0701234567', agent: 'agent-2', callId: 'c-1', direction: 'inbound', minDurationMs: 0, limit: 10 }) },
    'GET /api/v1/recordings/per-day': { who: 'supervisor', query: { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z', careUnit: 'Unit A' } },
    'GET /api/v1/recordings/:id/waveform': { who: 'supervisor', query: { points: '50' } },
    'POST /api/v1/recordings/:id/export': { who: 'supervisor', body: () => ({ recipient }) },
    'POST /api/v1/recordings/:id/break-glass': { who: 'agent', body: () => ({ reason: 'caller in acute distress, their nurse is away' }) },
    'POST /api/v1/recordings/:id/legal-hold': { who: 'privacy', body: () => ({ hold: true }) },
    'GET /api/v1/break-glass': { who: 'auditor', query: { state: 'open' } },
    'GET /api/v1/audit/events': { who: 'auditor', query: { limit: '10', action: 'recording.played', actor: 'supervisor', recording: 'RECORDING', from: '2026-11-01T00:00:00Z' } },
    'POST /api/v1/audit/extract': { who: 'auditor', body: () => ({ phone: '0701234567', format: 'json' }) },
    'POST /api/v1/session': { who: 'anonymous', body: () => ({ username: 'supervisor', password: 'not the password at all', totpCode: '123456' }), refused: true },
  };
  let counter = 0;
  let recipient = '';
  /** Ids that exist, for path parameters: the recording, a person no session belongs to, a key. */
  const realIds: string[] = [];
  /** The id a route's path parameter takes in a well-formed request. */
  const idFor = (url: string) => (url.startsWith('/api/v1/users/') ? realIds[1]! : url.startsWith('/api/v1/keys/') ? realIds[2]! : recording);

  function cases(route: { method: string; url: string; query?: unknown; body?: unknown }, seed: number) {
    const rand = xorshift32(seed);
    const pick = <T>(xs: readonly T[]): T => xs[rand() % xs.length]!;
    const nasty = () => pick(NASTY);
    const queryKeys = keysOf(route.query);
    const bodyKeys = keysOf(route.body);
    return Array.from({ length: CASES_PER_ROUTE }, (_, k) => {
      // Path parameters: an id that exists half the time (so that the handler runs past its lookup), else nonsense.
      // (A lone surrogate cannot be percent-encoded as UTF-8: it goes as the invalid bytes it would be.)
      const path = route.url.replace(/:(\w+)/g, () => (rand() % 2 === 0 ? pick(realIds) : pathPart(nasty())));
      const headers: Record<string, string> = {};
      const q = new URLSearchParams();
      for (const key of queryKeys) if (rand() % 2) q.append(key, nasty());
      if (rand() % 3 === 0) q.append(pick([...queryKeys, 'limit', 'cursor', 'x']), nasty()); // a key twice, or one unknown
      let body: string | undefined;
      if (route.method !== 'GET' && route.method !== 'HEAD') {
        const shape = k % 5;
        if (shape === 0) body = pick(['{', '[', 'null', '"x"', '1', '{"a":', '\u0000', '{"__proto__":{"admin":true}}', '['.repeat(5000)]);
        else if (shape === 1) body = JSON.stringify(Object.fromEntries(bodyKeys.map((key) => [key, pick(SPOILERS)])));
        else if (shape === 2) body = JSON.stringify({ ...Object.fromEntries(bodyKeys.filter(() => rand() % 2).map((key) => [key, nasty()])), [nasty()]: nasty() });
        else if (shape === 3) body = 'x'.repeat(rand() % 2 ? 10 : 2_000_000);
        headers['content-type'] = shape === 3 ? pick(['text/plain', 'application/json', 'application/offset+octet-stream', 'multipart/form-data; boundary=x']) : pick(['application/json', 'application/json; charset=latin1', 'text/plain', 'application/offset+octet-stream']);
      }
      // Headers routes read: ranges, tus, conditional requests, forwarded addresses.
      if (rand() % 2) headers.range = pick(['bytes=abc', 'bytes=5-1', 'bytes=-0', 'bytes=0-0,1-1,2-2', 'bytes=99999999999999999999-', 'items=0-1', 'bytes=']);
      if (rand() % 2) headers['tus-resumable'] = pick(['1.0.0', '0.2.2', '', 'x']);
      if (rand() % 2) headers['upload-offset'] = pick(['-1', '1e3', '0x10', '99999999999999999999', '', '0']);
      if (rand() % 3 === 0) headers['upload-length'] = pick(['-5', 'abc', '1e20', '0']);
      if (rand() % 3 === 0) headers['upload-metadata'] = pick(['startedAt', 'a b c', 'startedAt !!!', 'codec cGNtdQ==,codec cGNtdQ==', ',,,', `careUnit ${Buffer.from('\u0000').toString('base64')}`]);
      if (rand() % 3 === 0) headers['upload-checksum'] = pick(['sha256', 'md5 AAAA', 'sha256 !!!', 'sha256 ' + 'A'.repeat(100)]);
      if (rand() % 4 === 0) headers['upload-defer-length'] = pick(['0', '2', 'x']);
      if (rand() % 4 === 0) headers['x-forwarded-for'] = pick(['10.0.0.1', 'garbage', '::1, 10.0.0.1']);
      if (rand() % 4 === 0) headers['if-range'] = pick(NASTY.filter((v) => /^[\x20-\x7e]{0,100}$/.test(v)));
      const query = q.toString();
      return { method: route.method, path: `${path}${query ? `?${query}` : ''}`, headers, body };
    });
  }

  it('a JSON route refuses a body of the upload type instead of reading it as no filters (found by the cases below)', async () => {
    for (const [who, method, path] of [['supervisor', 'POST', '/api/v1/recordings/search'], ['auditor', 'POST', '/api/v1/audit/extract'], ['privacy', 'POST', `/api/v1/recordings/${recording}/legal-hold`]] as const) {
      const res = await fetch(`${s.url}${path}`, { method, headers: { ...creds.get(who), 'content-type': 'application/offset+octet-stream' }, body: 'careUnit=Unit B' });
      assert.equal(res.status, 415, `${method} ${path}`);
      assert.match(((await res.json()) as { error: string }).error, /application\/json/);
    }
    // Without a body the type is no matter: a tus client may send it on every request.
    const head = await fetch(`${s.url}/api/v1/uploads/0123456789abcdef0123456789abcdef`, { method: 'HEAD', headers: { ...creds.get('ingest'), 'tus-resumable': '1.0.0', 'content-type': 'application/offset+octet-stream' } });
    assert.equal(head.status, 404);
    // The refusal of a signed-in person's body is audited under their name.
    const before = await lastAuditSeq(s.archive);
    const res = await fetch(`${s.url}/api/v1/passkeys/registration`, { method: 'POST', headers: { ...creds.get('supervisor'), 'content-type': 'application/offset+octet-stream' }, body: 'x' });
    assert.equal(res.status, 415);
    const event = await s.archive.db.selectFrom('audit_events').select(['action', 'actor_type', 'actor_id']).where('seq', '>', before).where('action', '=', 'auth.bad_request').executeTakeFirst();
    assert.deepEqual(event, { action: 'auth.bad_request', actor_type: 'user', actor_id: (await s.archive.users.byUsername('supervisor'))!.id });
  });

  interface Case { method: string; path: string; headers: Record<string, string>; body?: string }
  /** Sends a case as `who`; a 5xx, no answer, or a refusal without its reason goes into `failures`. */
  async function send(who: Who, c: Case, failures: string[]): Promise<{ status: number; text: string; location?: string | null }> {
    const where = `${who} ${c.method} ${c.path.slice(0, 160)} ${JSON.stringify(c.headers).slice(0, 200)} body ${JSON.stringify(c.body?.slice(0, 120))}`;
    let res: Response;
    try {
      res = await fetch(`${s.url}${c.path}`, { method: c.method, headers: { ...creds.get(who), ...c.headers }, body: c.body });
    } catch (e) {
      failures.push(`${where}: no answer (${(e as Error).message})`);
      return { status: 0, text: '' };
    }
    const text = await res.text();
    seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
    if (res.status >= 500) failures.push(`${where}: ${res.status} ${text.slice(0, 200)}`);
    // (431: a request line and headers over Node's limit, refused by its HTTP parser before any route.)
    else if (res.status >= 400 && res.status !== 431 && c.path.startsWith('/api/') && c.method !== 'HEAD') {
      // A refusal carries its reason as JSON.
      let reason: unknown;
      try {
        reason = (JSON.parse(text) as { error?: unknown }).error;
      } catch {
        reason = undefined;
      }
      if (typeof reason !== 'string' || reason.length === 0) failures.push(`${where}: ${res.status} without a reason: ${text.slice(0, 200)}`);
    }
    return { status: res.status, text, location: res.headers.get('location') };
  }

  it('each field of a well-formed request, spoiled one at a time, is refused with its reason or accepted, never a 5xx', async () => {
    const documented = new Set(s.running.routes.map((r) => `${r.method} ${r.url}`));
    const failures: string[] = [];
    let sent = 0;
    for (const [name, w] of Object.entries(WELL_FORMED)) {
      assert.ok(documented.has(name), `${name} is not a route`);
      const [method, url] = name.split(' ') as [string, string];
      const path = url.replace(/:(\w+)/g, idFor(url));
      const request = (body?: Record<string, unknown>, query?: Record<string, string>): Case => ({
        method, path: query ? `${path}?${new URLSearchParams(query).toString().replaceAll('RECORDING', recording)}` : path,
        headers: body ? { 'content-type': 'application/json' } : {}, body: body && JSON.stringify(body),
      });
      const base = await send(w.who, request(w.body?.(), w.query), failures);
      if (!w.refused) assert.ok(base.status >= 200 && base.status < 300, `${name} as ${w.who}: the well-formed request answered ${base.status} ${base.text.slice(0, 300)}`);
      for (const key of Object.keys(w.body?.() ?? w.query ?? {})) {
        await Promise.all(SPOILERS.map(async (v) => {
          if (w.body) {
            const body = w.body();
            body[key] = v;
            sent++;
            return send(w.who, request(body), failures);
          }
          if (typeof v !== 'string') return; // a query's values are strings
          sent++;
          return send(w.who, request(undefined, { ...w.query, [key]: v }), failures);
        }));
      }
    }
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad answers of ${sent}`);
    assert.ok(sent > 1000, `only ${sent} spoiled requests`);
  });

  it('each Upload-Metadata field of a well-formed live call, spoiled one at a time, is refused with its reason or taken, never a 5xx', async () => {
    const failures: string[] = [];
    const meta: Record<string, string> = { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'Unit A', callId: 'c-2', agentId: 'agent-2',
      caller: '0701234567', callee: '+46812345678', patientId: '19121212-1212', codec: 'pcmu', sampleRate: '8000', channels: '1' };
    const second = Buffer.alloc(8000, 0x55);
    const call = async (m: Record<string, string>): Promise<number> => {
      const created = await send('ingest', { method: 'POST', path: '/api/v1/uploads', headers: { 'tus-resumable': '1.0.0', 'upload-defer-length': '1', 'upload-metadata': metaHeader(m) } }, failures);
      if (created.status !== 201) return created.status;
      // Taken: a second of audio, then hang-up.
      const id = created.location!.split('/').pop()!;
      const patch = await tusPatch(s.url, ingestToken, id, 0, second, { 'upload-length': String(second.length) });
      if (patch.status >= 500) failures.push(`PATCH after ${JSON.stringify(m).slice(0, 200)}: ${patch.status} ${await patch.text()}`);
      return created.status;
    };
    assert.equal(await call(meta), 201, 'the well-formed call');
    const statuses: number[] = [];
    for (const key of [...Object.keys(meta), 'unknownKey']) {
      statuses.push(...await Promise.all(SPOILERS.filter((v): v is string => typeof v === 'string').map((v) => call({ ...meta, [key]: v }))));
    }
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad answers of ${statuses.length}`);
    // Both ways were taken: calls refused, and calls whose spoiled field was still acceptable (a free-text call id, say).
    assert.ok(statuses.filter((st) => st === 400).length > 100 && statuses.filter((st) => st === 201).length > 10, JSON.stringify(statuses));
  });

  it('no route answers any principal with a 5xx, and each refusal says why', async () => {
    // Sign-in and sign-out routes come last: failed sign-ins lock the source address, and a
    // sign-out would end a session the later requests use; so does erasure, which may take the recording.
    const last = (url: string) => /\/session|\/erase$/.test(url);
    const routes = [...s.running.routes].sort((a, b) => Number(last(a.url)) - Number(last(b.url)));
    seen.clear(); // this test's answers only
    assert.ok(routes.length > 40, `only ${routes.length} routes registered`);
    const failures: string[] = [];
    let seed = 1177;
    for (const route of routes) {
      for (const who of creds.keys()) {
        if (route.method === 'DELETE' && route.url === '/api/v1/session' && who !== 'anonymous') continue;
        // A principal's cases on a route go at once, as a busy client's would (their audit events share commits).
        await Promise.all(cases(route as never, seed++).map((c) => send(who, c, failures)));
      }
    }
    assert.deepEqual(failures.slice(0, 20), [], `${failures.length} bad answers`);
    // The cases reached past the door: many were refused as bad input, some got through.
    assert.ok((seen.get(400) ?? 0) > 300, `statuses seen: ${JSON.stringify(Object.fromEntries(seen))}`);
    assert.ok([...seen.keys()].some((st) => st < 300), `statuses seen: ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  it('the server still serves, logged no internal error, and its audit log verifies', async () => {
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    const internal = s.logs.filter((l) => /"level":(50|60)/.test(l) || /internal error/.test(l));
    assert.deepEqual(internal.slice(0, 5), []);
    const report = await verifyAuditLog({ db: s.archive.db, vkey: auditVerifierKey(logOrigin(s.archive.keys.archiveRecipient), s.archive.keys.auditSigningKey()), witnessDir: `${s.dir}-witness` });
    assert.deepEqual(report.problems, []);
    assert.ok(report.entries > 1000, `only ${report.entries} audit entries`);
  });
});
