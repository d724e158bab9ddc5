// Retention: recordings past their period are erased on time, by the server itself, per care
// unit, exactly once however many nodes run it, and never while under legal hold.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { makeRawG711 } from '../src/ingest/g711.ts';
import { JOBS, runAlone } from '../src/catalog/db.ts';
import { WRITER_LOCK } from '../src/catalog/dialect.ts';
import { seedCatalog } from '../src/catalog/seed.ts';
import { createPurge } from '../src/jobs/purge.ts';
import { createRetention, DAY_MS } from '../src/jobs/retention.ts';
import { enrollPerson, ingestKey, signIn, startTestServer, sendAs as send, type TestServer } from './helpers/archive.ts';
import { catalogEnv, databaseUrlOf, initTestArchive, openTestArchive, releaseTestArchive, TEST_CATALOG } from './helpers/catalog.ts';
import { startServer } from '../src/cli/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { runCli } from './helpers/cli.ts';
import { watchEventLoop } from './helpers/event-loop.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

const audio = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 1 });
const daysAgo = (d: number) => new Date(Date.now() - d * DAY_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
const RULES = { CALLVAULT_RETENTION_DAYS: '365', CALLVAULT_RETENTION_BY_UNIT: 'Syd=30, Barn och unga=3650' };
const RULES_TYPO = { ...RULES, CALLVAULT_RETENTION_BY_UNIT: 'Syd=30, Barn och unga=3650, Barn och Unga=10' };

describe('retention', () => {
  let s: TestServer;
  let key: string;
  const ids: Record<string, string> = {};
  const call = async (name: string, careUnit: string, days: number) => {
    ids[name] = recordingIdOf(await tusUpload(s.url, key, audio, { startedAt: daysAgo(days), direction: 'inbound', careUnit, codec: 'pcmu', sampleRate: '8000', channels: '1', caller: '0701234567' }));
  };
  const erased = async (name: string) => (await s.archive.db.selectFrom('recordings').select('erased_at').where('id', '=', ids[name]!).executeTakeFirstOrThrow()).erased_at !== null;

  before(async () => {
    s = await startTestServer(RULES);
    key = await ingestKey(s);
    await call('norrOld', 'Norr', 400);
    await call('norrNew', 'Norr', 300);
    await call('sydOld', 'Syd', 31);
    await call('sydNew', 'Syd', 29);
    await call('barnOld', 'Barn och unga', 400); // its unit keeps ten years
    await call('held', 'Norr', 500);
    const officer = await enrollPerson(s, 'dpo', { roles: ['privacy_officer'] });
    const c = await signIn(s, officer);
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${ids.held}/legal-hold`, { hold: true })).status, 200);
  });
  after(() => s.close());

  it('counts what is due without erasing, from the command line', async () => {
    const env = { ...catalogEnv(s.dir), ...RULES };
    const typo = await runCli(['retention', '--data', s.dir, '--dry-run'], { env: { ...catalogEnv(s.dir), ...RULES_TYPO } });
    assert.match(typo.stdout, /care unit Barn och Unga holds no recording: check its spelling/);
    const dry = await runCli(['retention', '--data', s.dir, '--dry-run'], { env });
    assert.doesNotMatch(dry.stdout, /holds no recording/);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /care unit Syd \(30 days\): 1 recording past the period/);
    assert.match(dry.stdout, /care unit Barn och unga \(3650 days\): 0 recordings past the period/);
    assert.match(dry.stdout, /every other care unit \(365 days\): 1 recording past the period/);
    assert.match(dry.stdout, /1 recording is past the period but under legal hold/);
    assert.equal(await erased('norrOld'), false, 'a dry run erases nothing');
    const none = await runCli(['retention', '--data', s.dir], { env: catalogEnv(s.dir) });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no retention period is set/);
  });

  it('erases what is past its unit\'s period, keeps the rest and what is held, and audits each as retention by the system', async () => {
    const { blob_key } = await s.archive.db.selectFrom('recordings').select('blob_key').where('id', '=', ids.norrOld!).executeTakeFirstOrThrow();
    const report = await s.running.retention.run();
    assert.deepEqual(report, { erased: { Syd: 1, 'Barn och unga': 0, '*': 1 }, held: 1 });
    assert.deepEqual(
      Object.fromEntries(await Promise.all(Object.keys(ids).map(async (n) => [n, await erased(n)]))),
      { norrOld: true, norrNew: false, sydOld: true, sydNew: false, barnOld: false, held: false },
    );
    const row = await s.archive.db.selectFrom('recordings').selectAll().where('id', '=', ids.norrOld!).executeTakeFirstOrThrow();
    assert.equal(row.header.length, 0);
    assert.equal(row.caller_index, null);
    await assert.rejects(s.archive.store.size(blob_key), 'its audio is deleted');
    const events = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'recording.erased').where('object_id', '=', ids.norrOld!).execute();
    assert.equal(events.length, 1);
    assert.equal(events[0]!.actor_type, 'system');
    assert.equal(events[0]!.actor_id, 'retention');
    assert.equal(JSON.parse(events[0]!.details!).basis, 'retention');
    assert.equal(JSON.parse(events[0]!.details!).retentionDays, 365);
    const runs = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'retention.run').orderBy('seq').execute();
    assert.deepEqual(JSON.parse(runs.at(-1)!.details!), { periods: { Syd: 30, 'Barn och unga': 3650, '*': 365 }, erased: report.erased, held: 1 }, 'the run itself is audited');
    assert.deepEqual(await s.running.retention.run(), { erased: { Syd: 0, 'Barn och unga': 0, '*': 0 }, held: 1 }, 'a second run has nothing to do');
    assert.equal((await s.archive.db.selectFrom('audit_events').select('seq').where('action', '=', 'retention.run').execute()).length, runs.length + 1, 'a run with nothing to do is audited too');
  });

  it('a recording whose hold is released is erased at the next run', async () => {
    await s.archive.db.updateTable('recordings').set({ legal_hold: 0 }).where('id', '=', ids.held!).execute();
    assert.deepEqual(await s.running.retention.run(), { erased: { Syd: 0, 'Barn och unga': 0, '*': 1 }, held: 0 });
    assert.equal(await erased('held'), true);
  });

  it('several nodes running at once erase each recording once', async () => {
    for (let i = 0; i < 250; i++) await call(`batch${i}`, 'Norr', 366 + (i % 7));
    const purge = createPurge({ db: s.archive.db, store: s.archive.store });
    const other = createRetention({ db: s.archive.db, audit: s.archive.audit, purge, rules: { days: 365, byUnit: { Syd: 30, 'Barn och unga': 3650 } } });
    const [a, b] = await Promise.all([s.running.retention.run(), other.run()]);
    assert.equal((a.erased['*'] ?? 0) + (b.erased['*'] ?? 0), 250, JSON.stringify([a, b]));
    const batchIds = Object.entries(ids).filter(([n]) => n.startsWith('batch')).map(([, id]) => id);
    const events = await s.archive.db.selectFrom('audit_events').select('object_id').where('action', '=', 'recording.erased').where('object_id', 'in', batchIds).execute();
    assert.equal(events.length, 250, 'one erasure event per recording');
    await purge.idle();
    await s.running.purge.idle();
    assert.equal(await s.running.purge.pending(), 0);
  });

  it('the server says at start when no period is set, and settings show the periods', async () => {
    const bare = await startTestServer();
    try {
      assert.ok(bare.logs.some((l) => /no retention period is set/.test(l)));
    } finally {
      await bare.close();
    }
    assert.ok(!s.logs.some((l) => /no retention period is set/.test(l)));
    const admin = await enrollPerson(s, 'admin2', { roles: ['administrator'] });
    const c = await signIn(s, admin);
    const settings = (await (await send(s, c, 'GET', '/api/v1/settings')).json()) as { retention: unknown };
    assert.deepEqual(settings.retention, { days: 365, byUnit: ['Syd=30', 'Barn och unga=3650'] });
  });
});

describe('retention over a backlog', () => {
  let s: TestServer;
  const seedDue = async (calls: number) => {
    await seedCatalog(s.archive.db, s.archive.blindIndex, { calls, days: 30, now: Date.now() - 400 * DAY_MS, seed: calls });
  };
  const due = async () => Number((await s.archive.db.selectFrom('recordings').select((eb) => eb.fn.countAll().as('n')).where('erased_at', 'is', null).executeTakeFirstOrThrow()).n);

  before(async () => {
    s = await startTestServer(); // no period at start: the runs below are the test's own
  });
  after(() => s.close());

  it('lets the server answer while it runs, and stops after its batch when asked (a shutdown)', async () => {
    const purge = createPurge({ db: s.archive.db, store: s.archive.store });
    const job = createRetention({ db: s.archive.db, audit: s.archive.audit, purge, rules: { days: 365, byUnit: {} } });
    // The server's own run at start (on PostgreSQL it holds the job's lock meanwhile) is over first.
    while ((await job.run()).elsewhere) await new Promise((r) => setTimeout(r, 50));
    await seedDue(6_000);
    const stalls = watchEventLoop();
    const running = job.run();
    await new Promise((r) => setTimeout(r, 100));
    const health = Date.now();
    assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
    const answeredIn = Date.now() - health;
    job.stop();
    const report = await running;
    const worst = stalls();
    assert.ok(answeredIn < 1_000, `the server answered in ${answeredIn} ms while retention ran`);
    assert.ok(worst < 1_000, `the event loop stalled ${worst} ms`);
    assert.equal(report.stopped, true, JSON.stringify(report));
    assert.ok(report.erased['*']! > 0 && report.erased['*']! < 6_000, `stopped part-way: ${report.erased['*']}`);
    const rest = await job.run();
    assert.equal(rest.erased['*']! + report.erased['*']!, 6_000, 'the next run erases the rest');
    assert.equal(await due(), 0);
    await purge.idle();
  });

  it('run from the command line, the erasures are audited as the operator\'s', async () => {
    await seedDue(10);
    const cli = await runCli(['retention', '--data', s.dir], { env: { ...catalogEnv(s.dir), CALLVAULT_RETENTION_DAYS: '365' } });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /every other care unit \(365 days\): 10 recordings erased/);
    const events = await s.archive.db.selectFrom('audit_events').select(['action', 'actor_type']).where('action', 'in', ['recording.erased', 'retention.run']).orderBy('seq', 'desc').limit(11).execute();
    assert.deepEqual(new Set(events.map((e) => e.actor_type)), new Set(['operator']));
    assert.equal(events.filter((e) => e.action === 'recording.erased').length, 10);
  });

  it('a shutdown does not wait for the objects of a run\'s erasures to be deleted: they stay queued for the next start', async () => {
    const root = await mkdtemp(join(tmpdir(), 'callvault-retention-stop-'));
    const dir = join(root, 'data');
    await initTestArchive(dir);
    const a = await openTestArchive(dir);
    try {
      await seedCatalog(a.db, a.blindIndex, { calls: 1_500, days: 30, now: Date.now() - 400 * DAY_MS, seed: 2 });
      // Interposed on the real store: 5 ms a delete, as a bucket across a network.
      const realDelete = a.store.delete.bind(a.store);
      let deletes = 0;
      a.store.delete = async (k) => {
        deletes++;
        await new Promise((r) => setTimeout(r, 5));
        return realDelete(k);
      };
      const env = { CALLVAULT_RETENTION_DAYS: '365' };
      const running = await startServer(a, loadConfig({ data: dir, listen: '127.0.0.1:0' }, env), new Writable({ write(_c, _e, cb) { cb(); } }), env);
      while (deletes < 20) await new Promise((r) => setTimeout(r, 20)); // the run's purge is under way
      const t0 = Date.now();
      await running.close();
      const took = Date.now() - t0;
      assert.ok(took < 4_000, `the shutdown took ${took} ms`);
      const queued = Number((await a.db.selectFrom('pending_deletions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
      assert.ok(queued > 0, 'what was not deleted stays queued');
    } finally {
      await a.close();
      await releaseTestArchive(dir);
      await rm(root, { recursive: true, force: true });
    }
  });

  if (TEST_CATALOG === 'postgres') it('on PostgreSQL, says so and does nothing while another node runs it; a dropped lock connection does not stop the server', async () => {
    const { default: pg } = await import('pg');
    const other = new pg.Client({ connectionString: databaseUrlOf(s.dir) });
    await other.connect();
    try {
      await seedDue(100);
      await other.query('SELECT pg_advisory_lock($1, $2)', [WRITER_LOCK, JOBS.retention]);
      const cli = await runCli(['retention', '--data', s.dir], { env: { ...catalogEnv(s.dir), CALLVAULT_RETENTION_DAYS: '365' } });
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /another node is running retention now/);
      assert.equal(await due(), 100, 'nothing was erased');
      await other.query('SELECT pg_advisory_unlock($1, $2)', [WRITER_LOCK, JOBS.retention]);
      // The connection holding the lock is ended by the server (a failover, an administrator) while idle.
      const ended = runAlone(s.archive.db, 'retention', async () => {
        await other.query(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2`, [WRITER_LOCK, JOBS.retention]);
        await new Promise((r) => setTimeout(r, 300)); // the error reaches the idle connection
      });
      await assert.rejects(ended, 'the run fails (its unlock cannot be sent), the process goes on');
      assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
      assert.equal(await due(), 100);
    } finally {
      await other.end();
    }
  });
});
