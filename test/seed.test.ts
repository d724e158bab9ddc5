// callvault seed: a synthetic catalog that search runs on like a real one, on whichever catalog
// the test run uses (SQLite, or PostgreSQL in the second pass).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { sqliteDriverOf } from '../src/catalog/db.ts';
import { arrayLiteral, seedCatalog } from '../src/catalog/seed.ts';
import { enrollPerson, sendAs, signIn, startTestServer, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { initTestArchive, openTestArchive, releaseTestArchivesUnder, TEST_POSTGRES } from './helpers/catalog.ts';
import { runCli } from './helpers/cli.ts';

describe('callvault seed', () => {
  let s: TestServer;
  let nurse: SessionCreds;
  before(async () => {
    s = await startTestServer();
    nurse = await signIn(s, await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['*'] }));
  });
  after(() => s.close());
  /** The SQLite catalog's journal mode ('wal' on PostgreSQL, which has none to change). */
  const journalMode = () => String(sqliteDriverOf(s.archive.db)?.pragma('journal_mode', { simple: true }) ?? 'wal');

  it('fills the catalog with calls spread over the years, regions, queues, agents and repeat callers', async () => {
    const r = await seedCatalog(s.archive.db, s.archive.blindIndex, { calls: 30_000, days: 365, seed: 7, now: Date.parse('2026-11-25T00:00:00Z') });
    assert.equal(r.calls, 30_000);
    const rows = await s.archive.db.selectFrom('recordings').select(['started_at', 'care_unit', 'agent_id', 'direction', 'duration_ms', 'caller_index', 'callee_index', 'flags']).execute();
    assert.equal(rows.length, 30_000);
    assert.ok(rows.every((x) => x.flags === '["synthetic"]'));
    assert.ok(new Set(rows.map((x) => x.care_unit)).size >= 50, 'regions times queues');
    assert.ok(new Set(rows.map((x) => x.agent_id)).size > 1000);
    const inbound = rows.filter((x) => x.direction === 'inbound').length / rows.length;
    assert.ok(inbound > 0.88 && inbound < 0.96, String(inbound));
    const durations = rows.map((x) => x.duration_ms).sort((a, b) => a - b);
    const median = durations[durations.length >> 1]!;
    assert.ok(median > 180_000 && median < 300_000, `median ${median} ms`);
    const times = rows.map((x) => x.started_at);
    assert.ok(Math.min(...times) >= Date.parse('2025-11-25T00:00:00Z') && Math.max(...times) < Date.parse('2026-11-26T00:00:00Z'));
    const hours = new Array(24).fill(0);
    for (const t of times) hours[new Date(t).getUTCHours()]++;
    assert.ok(hours[9] > 3 * hours[3], 'busy mornings, quiet nights');
    const perPerson = new Map<string, number>();
    for (const x of rows) {
      // The person is the caller of an inbound call and the callee of a call back, never both.
      assert.equal(x.caller_index === null, x.direction === 'outbound');
      assert.equal(x.callee_index === null, x.direction === 'inbound');
      const person = Buffer.from((x.caller_index ?? x.callee_index)!).toString('hex');
      perPerson.set(person, (perPerson.get(person) ?? 0) + 1);
    }
    assert.ok(Math.max(...perPerson.values()) > 5, 'some people call again and again');
    // Loaded in time order, so ids (and the time-ordered indexes) grow with the start time.
    const ordered = await s.archive.db.selectFrom('recordings').select(['id', 'started_at']).orderBy('id').execute();
    assert.ok(ordered.every((x, k) => k === 0 || x.started_at >= ordered[k - 1]!.started_at));
    // SQLite: loaded under a rollback journal (this test holds the only connection), then back to WAL.
    assert.equal(journalMode(), 'wal');
  });

  it('is searchable through the API like real calls, by caller number too; playing says there is no audio', async () => {
    const res = await sendAs(s, nurse, 'GET', `/api/v1/recordings?careUnit=${encodeURIComponent('1177 Skåne Barn')}&limit=5`);
    assert.equal(res.status, 200);
    const page = (await res.json()) as { items: Array<{ id: string; careUnit: string; flags: string[] }>; count: { value: number } };
    assert.ok(page.count.value > 50);
    assert.ok(page.items.every((i) => i.careUnit === '1177 Skåne Barn' && i.flags.includes('synthetic')));
    const byCaller = (await (await sendAs(s, nurse, 'POST', '/api/v1/recordings/search', { caller: '+46701000000' })).json()) as { count: { value: number } };
    assert.ok(byCaller.count.value > 0, 'the most frequent made-up caller is found by number');
    const outbound = (await (await sendAs(s, nurse, 'POST', '/api/v1/recordings/search', { caller: '+46701000000', direction: 'outbound' })).json()) as { count: { value: number } };
    assert.ok(outbound.count.value > 0 && outbound.count.value < byCaller.count.value, 'calls back to them are found too');
    const id = page.items[0]!.id;
    assert.equal((await sendAs(s, nurse, 'GET', `/api/v1/recordings/${id}`)).status, 200);
    assert.equal((await sendAs(s, nurse, 'GET', `/api/v1/recordings/${id}/audio`)).status, 410);
    // No play of it is audited: no audio left, and a patient's extract must not show one.
    assert.equal((await s.archive.db.selectFrom('audit_events').select('seq').where('action', '=', 'recording.played').where('object_id', '=', id).execute()).length, 0);
    assert.equal((await sendAs(s, nurse, 'GET', '/api/v1/recordings?flag=synthetic&limit=1')).status, 200);
  });

  it('the CLI seeds, prints its rate, audits the seeding, and refuses nonsense', async () => {
    await s.running.close();
    const ok = await runCli(['seed', '--data', s.dir, '--calls', '2000']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Seeded 2000 synthetic calls .* calls\/s/);
    for (const bad of [['--calls', '0'], ['--calls', 'many'], ['--calls', '1e3'], ['--calls', '0x10'], ['--calls', '10', '--days', '0'], ['--calls', '10', '--days', '1.5']]) {
      const r = await runCli(['seed', '--data', s.dir, ...bad]);
      assert.equal(r.code, 2, bad.join(' '));
    }
    const seeded = await s.archive.db.selectFrom('audit_events').select('details').where('action', '=', 'catalog.seeded').execute();
    assert.equal(seeded.length, 1);
    // This test's own connection stayed open: the CLI's load went on in WAL, and WAL it stays.
    assert.equal(journalMode(), 'wal');
  });
});

describe('calls per day', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(() => s.close());

  it('counts per day from the daily counts the catalog keeps, equal to counting the calls; within scope', async () => {
    const now = Date.parse('2026-11-25T00:00:00Z');
    await seedCatalog(s.archive.db, s.archive.blindIndex, { calls: 20_000, days: 60, seed: 3, now });
    const from = now - 30 * 86_400_000;
    const unit = '1177 Gotland Sjukvårdsrådgivning';
    const nurse = await signIn(s, await enrollPerson(s, 'gotland', { roles: ['supervisor'], careUnits: [unit] }));
    const res = await sendAs(s, nurse, 'GET', `/api/v1/recordings/per-day?from=${new Date(from).toISOString()}&to=${new Date(now).toISOString()}`);
    assert.equal(res.status, 200);
    const { days } = (await res.json()) as { days: Array<{ day: string; calls: number }> };
    const rows = await s.archive.db.selectFrom('recordings').select('started_at').where('care_unit', '=', unit).where('started_at', '>=', from).where('started_at', '<', now).execute();
    const expected = new Map<string, number>();
    for (const r of rows) { const d = new Date(r.started_at).toISOString().slice(0, 10); expected.set(d, (expected.get(d) ?? 0) + 1); }
    assert.deepEqual(days, [...expected].sort((a, b) => a[0].localeCompare(b[0])).map(([day, calls]) => ({ day, calls })));
    assert.ok(days.length >= 28);
    const agent = await signIn(s, await enrollPerson(s, 'agent', { roles: ['agent'], agentId: 'agent-0007' }));
    const own = (await (await sendAs(s, agent, 'GET', `/api/v1/recordings/per-day?from=${new Date(from).toISOString()}&to=${new Date(now).toISOString()}`)).json()) as { days: Array<{ calls: number }> };
    const ownCount = (await s.archive.db.selectFrom('recordings').select('id').where('agent_id', '=', 'agent-0007').where('started_at', '>=', from).where('started_at', '<', now).execute()).length;
    assert.equal(own.days.reduce((n, d) => n + d.calls, 0), ownCount, 'an agent counts only their own calls');
    assert.equal((await sendAs(s, nurse, 'GET', `/api/v1/recordings/per-day?from=${new Date(now).toISOString()}&to=${new Date(from).toISOString()}`)).status, 400);
  });
});

describe('a seed with fewer calls than days', () => {
  it('spreads them over the whole range, not into its first days', async () => {
    const root = await mkdtemp(join(tmpdir(), 'callvault-seed-few-'));
    try {
      const dir = join(root, 'data');
      await initTestArchive(dir);
      const a = await openTestArchive(dir);
      try {
        const now = Date.parse('2026-12-01T00:00:00Z');
        const days = 2000;
        await seedCatalog(a.db, a.blindIndex, { calls: 100, days, seed: 5, now });
        const times = (await a.db.selectFrom('recordings').select('started_at').execute()).map((r) => r.started_at);
        assert.equal(times.length, 100);
        const start = now - days * 86_400_000;
        const quarter = (days / 4) * 86_400_000;
        for (let q = 0; q < 4; q++) {
          assert.ok(times.some((t) => t >= start + q * quarter && t < start + (q + 1) * quarter), `no call in quarter ${q + 1} of the range`);
        }
      } finally {
        await a.close();
      }
    } finally {
      await releaseTestArchivesUnder(root);
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('array literals for PostgreSQL bulk loads', () => {
  it('round-trip through the server: quotes, backslashes, commas, braces, spaces, nulls, non-ASCII and numbers', async () => {
    const c = new pg.Client({ connectionString: TEST_POSTGRES });
    await c.connect();
    try {
      const texts = ['plain', 'with "quotes"', 'back\\slash', 'a,b', '{braces}', ' spaced ', 'NULL', '', 'Jämtland Härjedalen', null];
      const back = await c.query<{ a: Array<string | null> }>('select $1::text[] as a', [arrayLiteral(texts)]);
      assert.deepEqual(back.rows[0]!.a, texts);
      // Neither quotes nor backslashes: the literal is made from JSON's text (with a tab, it is not).
      for (const some of [texts.filter((t) => t === null || !/["\\]/.test(t)), ['tab\there', 'new\nline', 'ok', null]]) {
        const again = await c.query<{ a: Array<string | null> }>('select $1::text[] as a', [arrayLiteral(some)]);
        assert.deepEqual(again.rows[0]!.a, some);
      }
      const numbers = [0, -1, 1_764_000_000_000, 2 ** 53 - 1];
      const nums = await c.query<{ a: string[] }>('select $1::int8[] as a', [arrayLiteral(numbers)]);
      assert.deepEqual(nums.rows[0]!.a.map(Number), numbers);
      const bytes = await c.query<{ a: Buffer[] }>('select $1::bytea[] as a', [arrayLiteral(['\\x00ff10'])]);
      assert.ok(bytes.rows[0]!.a[0]!.equals(Buffer.from([0, 0xff, 0x10])));
      assert.equal(arrayLiteral([]), '{}');
    } finally {
      await c.end();
    }
  });
});
