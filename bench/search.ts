// bench:search — search over a national advice line's archive, on SQLite and on PostgreSQL in
// one run: seed N synthetic calls (default 2,700,000: the 1177 archive), the catalog's size,
// and p50/p95 latency of caller lookup, the newest 50 calls of a care unit in a date range,
// calls per day over a month (the whole line), and three filters at once, all through the catalog code the API
// uses. Reference: calls per day counted from the month's calls (an index scan) against the
// daily counts the catalog keeps.
//
// Usage: npm run bench:search [-- --calls 2700000 --runs 200 --backends sqlite,postgres]
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { careUnitOf, REGIONS, seedCatalog } from '../src/catalog/seed.ts';
import type { RecordingScope } from '../src/access/policy.ts';
import { initArchive, openArchive, type Archive } from '../src/cli/archive.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '2700000' }, runs: { type: 'string', default: '200' }, backends: { type: 'string', default: 'sqlite,postgres' } } });
const CALLS = Number(values.calls);
const RUNS = Number(values.runs);
const ADMIN_URL = process.env.CALLVAULT_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const DAY = 86_400_000;
const NOW = Date.parse('2026-11-25T00:00:00Z');
const DAYS = 6 * 365;
const ALL: RecordingScope = { kind: 'all' };

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

async function time(fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 10; i++) await fn(i); // warm
  const ts: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn(i);
    ts.push(performance.now() - t);
  }
  return { p50: pct(ts, 0.5), p95: pct(ts, 0.95) };
}

let seedState = 12345;
const rnd = () => { seedState = (seedState * 1103515245 + 12345) % 2147483648; return seedState / 2147483648; };
const unit = () => careUnitOf(REGIONS[Math.floor(rnd() * REGIONS.length)]!, 'Sjukvårdsrådgivning');
const monthStart = () => NOW - Math.floor(rnd() * (DAYS - 31)) * DAY - 31 * DAY;

async function run(backend: 'sqlite' | 'postgres') {
  const root = mkdtempSync(join(tmpdir(), 'callvault-bench-search-'));
  const dir = join(root, 'data');
  const dbName = `cv_bench_${Date.now()}`;
  let admin: pg.Client | undefined;
  let a: Archive | undefined;
  try {
    let databaseUrl: string | undefined;
    if (backend === 'postgres') {
      admin = new pg.Client(ADMIN_URL);
      await admin.connect();
      await admin.query(`create database ${dbName}`);
      const u = new URL(ADMIN_URL);
      u.pathname = `/${dbName}`;
      databaseUrl = u.toString();
    }
    await initArchive(dir, { databaseUrl });
    a = await openArchive(dir, { databaseUrl });
    const seeded = await seedCatalog(a.db, a.blindIndex, { calls: CALLS, days: DAYS, now: NOW });
    const rate = seeded.calls / seeded.seconds;
    await sql`analyze`.execute(a.db);
    const size = backend === 'postgres'
      ? Number((await sql<{ n: string }>`select pg_database_size(current_database()) as n`.execute(a.db)).rows[0]!.n)
      : statSync(join(dir, 'catalog.sqlite')).size + (existsSync(join(dir, 'catalog.sqlite-wal')) ? statSync(join(dir, 'catalog.sqlite-wal')).size : 0);
    console.log(`${backend}: seeded ${seeded.calls} calls in ${seeded.seconds.toFixed(1)} s (${Math.round(rate)} calls/s); catalog ${(size / 2 ** 20).toFixed(0)} MiB`);

    const callers = Array.from({ length: 50 }, (_, i) => a!.blindIndex.phone(`+4670${String(1_000_000 + i * 7 * 97).padStart(7, '0')}`));
    const repo = a.recordings;
    const results: Record<string, { p50: number; p95: number }> = {
      caller: await time((i) => repo.list({ scope: ALL, now: NOW, limit: 50, numberIndex: callers[i % callers.length] })),
      unitRange: await time(() => { const f = monthStart(); return repo.list({ scope: ALL, now: NOW, limit: 50, careUnit: unit(), from: f, to: f + 30 * DAY }); }),
      perDay: await time(() => { const f = monthStart(); return repo.perDay({ scope: ALL, now: NOW, from: f, to: f + 30 * DAY }); }),
      threeFilters: await time((i) => repo.list({ scope: ALL, now: NOW, limit: 50, agentId: `agent-${String(i % 2000).padStart(4, '0')}`, direction: 'inbound', minDurationMs: 300_000 })),
    };
    // Reference: calls per day over a month (the whole line) counted from the calls: an index
    // scan of the month's calls.
    const scan = await time(() => {
      const f = monthStart();
      const day = sql<number>`started_at / ${sql.lit(DAY)}`;
      return a!.db.selectFrom('recordings').select([day.as('day'), (eb) => eb.fn.countAll().as('n')])
        .where('started_at', '>=', f).where('started_at', '<', f + 30 * DAY).groupBy(day).execute();
    });
    for (const [k, v] of Object.entries(results)) console.log(`${backend}: ${k.padEnd(13)} p50 ${v.p50.toFixed(2)} ms  p95 ${v.p95.toFixed(2)} ms`);
    console.log(`${backend}: per day from daily counts vs counted from the month's calls (reference): p50 ${results.perDay!.p50.toFixed(2)} vs ${scan.p50.toFixed(2)} ms, ratio ${(scan.p50 / results.perDay!.p50).toFixed(1)}`);
    return { worstP95: Math.max(...Object.values(results).map((r) => r.p95)), rate };
  } finally {
    await a?.close();
    if (admin) {
      await admin.query(`drop database if exists ${dbName} with (force)`);
      await admin.end();
    }
    rmSync(root, { recursive: true, force: true });
  }
}

const backends = values.backends.split(',') as Array<'sqlite' | 'postgres'>;
const out: Record<string, { worstP95: number; rate: number }> = {};
for (const b of backends) out[b] = await run(b);
const fmt = (b: string) => (out[b] ? out[b].worstP95.toFixed(2) : 'na');
console.log(`RESULT search sqlite_p95_ms=${fmt('sqlite')} postgres_p95_ms=${fmt('postgres')} seed_rows_per_s=${Math.round(Math.min(...Object.values(out).map((o) => o.rate)))}`);
