// bench:retention — the first retention run after a period is set on a grown archive: N
// synthetic calls (default 200,000) of which half are past the period, erased by the retention
// job as the server runs it (key, numbers and indexes cleared, the deletion of their objects
// queued, each erasure audited, then the queue purged), on SQLite and on PostgreSQL. Reference,
// in the same process on a second copy of the catalog: the bare UPDATE that clears the same
// columns of the same rows in transactions of the same size, with neither audit nor queue.
//
// Usage: npm run bench:retention [-- --calls 200000 --backends sqlite,postgres]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { seedCatalog } from '../src/catalog/seed.ts';
import { initArchive, openArchive, type Archive } from '../src/cli/archive.ts';
import { createPurge } from '../src/jobs/purge.ts';
import { createRetention, DAY_MS } from '../src/jobs/retention.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, backends: { type: 'string', default: 'sqlite,postgres' } } });
const CALLS = Number(values.calls);
const ADMIN_URL = process.env.CALLVAULT_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PERIOD_DAYS = 365;

/** A fresh archive with CALLS calls over two years: half of them past a 365-day period. */
async function seeded(backend: 'sqlite' | 'postgres', root: string, name: string, admin: pg.Client | undefined): Promise<Archive> {
  const dir = join(root, name);
  let databaseUrl: string | undefined;
  if (backend === 'postgres') {
    const db = `cv_bench_ret_${name}_${Date.now()}`;
    await admin!.query(`create database ${db}`);
    databaseUrl = ADMIN_URL.replace(/\/[^/]*$/, `/${db}`);
  }
  await initArchive(dir, { databaseUrl });
  const a = await openArchive(dir, { databaseUrl });
  await seedCatalog(a.db, a.blindIndex, { calls: CALLS, days: 2 * PERIOD_DAYS });
  return a;
}

async function run(backend: 'sqlite' | 'postgres') {
  const root = mkdtempSync(join(tmpdir(), 'callvault-bench-retention-'));
  let admin: pg.Client | undefined;
  const open: Archive[] = [];
  try {
    if (backend === 'postgres') {
      admin = new pg.Client(ADMIN_URL);
      await admin.connect();
    }
    const a = await seeded(backend, root, 'job', admin);
    open.push(a);
    const purge = createPurge({ db: a.db, store: a.store });
    const job = createRetention({ db: a.db, audit: a.audit, purge, rules: { days: PERIOD_DAYS, byUnit: {} } });
    const due = (await job.due()).erased['*']!;
    const rss0 = process.memoryUsage().rss;
    let t = performance.now();
    const report = await job.run();
    const jobS = (performance.now() - t) / 1000;
    const rss = process.memoryUsage().rss;
    if (report.erased['*'] !== due) throw new Error(`erased ${report.erased['*']} of ${due} due`);
    if ((await purge.pending()) !== 0) throw new Error('objects left queued');

    // Reference: the same rows, the same columns cleared, bare.
    const b = await seeded(backend, root, 'bare', admin);
    open.push(b);
    const cutoff = Date.now() - PERIOD_DAYS * DAY_MS;
    t = performance.now();
    let cleared = 0;
    for (;;) {
      const ids = (await b.db.selectFrom('recordings').select('id').where('erased_at', 'is', null).where('started_at', '<', cutoff).orderBy('started_at').limit(100).execute()).map((r) => r.id);
      if (ids.length === 0) break;
      await b.db.transaction().execute((trx) => trx.updateTable('recordings').set({
        erased_at: Date.now(), header: new Uint8Array(0), caller_sealed: null, callee_sealed: null, caller_index: null, callee_index: null, patient_index: null, external_call_id: null,
      }).where('id', 'in', ids).execute());
      cleared += ids.length;
    }
    const bareS = (performance.now() - t) / 1000;
    if (cleared !== due) throw new Error(`reference cleared ${cleared} of ${due}`);
    const perS = Math.round(due / jobS);
    console.log(`${backend}: ${due} of ${CALLS} calls past the period erased in ${jobS.toFixed(1)} s (${perS}/s, audited, objects purged; process memory +${Math.round((rss - rss0) / 1e6)} MB); ` +
      `bare UPDATE of the same rows (reference): ${bareS.toFixed(1)} s (${Math.round(due / bareS)}/s); ratio ${(jobS / bareS).toFixed(2)}`);
    return { perS, ratio: jobS / bareS };
  } finally {
    for (const a of open) await a.close().catch(() => undefined);
    if (admin) {
      const { rows } = await admin.query(`select datname from pg_database where datname like 'cv_bench_ret_%'`);
      for (const r of rows as Array<{ datname: string }>) await admin.query(`drop database if exists ${r.datname} with (force)`);
      await admin.end();
    }
    rmSync(root, { recursive: true, force: true });
  }
}

const results: Record<string, { perS: number; ratio: number }> = {};
for (const backend of String(values.backends).split(',') as Array<'sqlite' | 'postgres'>) results[backend] = await run(backend);
console.log(`RESULT retention ${Object.entries(results).map(([b, r]) => `${b}_per_s=${r.perS} ${b}_vs_bare=${r.ratio.toFixed(2)}`).join(' ')}`);
