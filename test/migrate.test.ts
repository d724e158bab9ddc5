// callvault migrate, as an operator runs it: an archive with real sealed recordings, people
// and a checkpointed audit log moves to a PostgreSQL catalog; afterwards it opens with the new
// setting, plays a recording byte for byte and its audit log verifies. A run killed midway is
// simply run again; a served archive is refused; no password is ever printed.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { auditVerifierKey, logOrigin } from '../src/audit/checkpointer.ts';
import { verifyAuditLog } from '../src/audit/verify.ts';
import { openCatalog } from '../src/catalog/db.ts';
import { openArchive } from '../src/cli/archive.ts';
import { lockDataDir } from '../src/cli/lock.ts';
import { signIn, type TestServer } from './helpers/archive.ts';
import { initTestArchive, releaseTestArchivesUnder } from './helpers/catalog.ts';
import { type CliResult, runCli, startCli, startServing, waitForHttp } from './helpers/cli.ts';
import { buildArchive, copyOf, dropTargets, serveWith, targetDatabase, type Pristine } from './helpers/migration.ts';

/** Child processes start slowly on a busy machine. */
const SLOW = { timeoutMs: 60_000 };
const show = (r: CliResult) => `exit ${r.code} ${r.signal ?? ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** The URL with a password the test server does not need (trust auth), to see it never printed. */
function withPassword(url: string): string {
  const u = new URL(url);
  u.password = 'Sekr3tPassw0rd';
  return u.toString();
}

describe('callvault migrate', () => {
  let root: string;
  let pristine: Pristine;
  let movedTo: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-migrate-'));
    pristine = await buildArchive(root);
  });
  after(async () => {
    await dropTargets();
    await releaseTestArchivesUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('moves the archive to PostgreSQL: it opens with the new URL, plays byte for byte, and its audit log verifies', async () => {
    const dir = await copyOf(pristine, root, 'moved');
    const target = await targetDatabase();
    const r = await runCli(['migrate', '--data', dir, '--to-database-url', withPassword(target)], SLOW);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /recordings: 3 rows copied/);
    assert.match(r.stdout, /every table's row count and digest equal/);
    assert.match(r.stdout, /--database-url URL \(or CALLVAULT_DATABASE_URL\)/);
    assert.doesNotMatch(r.stdout + r.stderr, /Sekr3tPassw0rd/);
    const marker = readFileSync(join(dir, 'callvault.json'), 'utf8');
    assert.equal(JSON.parse(marker).catalog, 'postgres');
    assert.doesNotMatch(marker, /Sekr3tPassw0rd/);
    assert.equal(existsSync(join(dir, 'migration.json')), false);

    const s = await serveWith(dir, { databaseUrl: target });
    try {
      const session = await signIn({ url: s.url } as TestServer, pristine.listener);
      for (const [id, wav] of pristine.wavs) {
        const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
        assert.equal(res.status, 200);
        assert.deepEqual(Buffer.from(await res.arrayBuffer()), wav, `recording ${id} plays as uploaded`);
      }
      const event = await s.archive.db.selectFrom('audit_events').selectAll().where('action', '=', 'archive.migrated').executeTakeFirstOrThrow();
      assert.equal(event.actor_type, 'operator');
      assert.deepEqual(JSON.parse(event.details!).catalog, { from: JSON.parse(readFileSync(join(pristine.dir, 'callvault.json'), 'utf8')).catalog ?? 'sqlite', to: 'postgres' });
    } finally {
      await s.close();
    }
    const verify = await runCli(['audit', 'verify', '--data', dir], { ...SLOW, env: { CALLVAULT_DATABASE_URL: target } });
    assert.equal(verify.code, 0, show(verify));
    assert.match(verify.stdout, /verified: every entry matches its hash and every checkpoint/);
    // Without the new URL the archive says what to give it.
    await assert.rejects(openArchive(dir, {}), /keeps its catalog in PostgreSQL; give its database with --database-url/);
    movedTo = target;
  });

  it('is run again after being killed midway and completes: no row twice, every table verified', async () => {
    const dir = await copyOf(pristine, root, 'killed');
    const target = await targetDatabase();
    // One row per transaction: slow enough to be killed in the middle of the audit log.
    const p = startCli(['migrate', '--data', dir, '--to-database-url', target], { env: { CALLVAULT_MIGRATE_BATCH_ROWS: '1' } });
    await p.waitFor(/recordings: \d+ rows copied/, 60_000);
    p.child.kill('SIGKILL');
    const killed = await p.exited;
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(readFileSync(join(dir, 'callvault.json'), 'utf8'), readFileSync(join(pristine.dir, 'callvault.json'), 'utf8'), 'nothing switched by a run that did not finish');
    assert.ok(existsSync(join(dir, 'migration.json')));

    const r = await runCli(['migrate', '--data', dir, '--to-database-url', target], SLOW);
    assert.equal(r.code, 0, show(r));
    const db = await openCatalog({ url: target });
    try {
      const dupes = await sql<{ n: number }>`select count(*) as n from (select seq from audit_events group by seq having count(*) > 1) d`.execute(db);
      assert.equal(Number(dupes.rows[0]!.n), 0);
      assert.equal((await db.selectFrom('recordings').select('id').execute()).length, 3);
      assert.equal((await db.selectFrom('users').select('id').execute()).length, 2);
      assert.equal((await db.selectFrom('audit_events').select('seq').where('action', '=', 'archive.migrated').execute()).length, 1);
    } finally {
      await db.destroy();
    }
    const a = await openArchive(dir, { databaseUrl: target });
    try {
      const report = await verifyAuditLog({ db: a.db, vkey: auditVerifierKey(logOrigin(a.keys.archiveRecipient), a.keys.auditSigningKey()), witnessDir: `${dir}-witness` });
      assert.deepEqual(report.problems, []);
      assert.ok(report.checkpoints >= 1);
    } finally {
      await a.close();
    }
  });

  it('run again after it finished, from the old catalog, refuses before writing anything into the archive\'s new one', async () => {
    const dir = await copyOf(pristine, root, 'twice');
    const first = await targetDatabase();
    const second = await targetDatabase();
    assert.equal((await runCli(['migrate', '--data', dir, '--to-database-url', first], SLOW)).code, 0);
    const again = ['migrate', '--data', dir, '--database-url', first, '--to-database-url', second];
    assert.equal((await runCli(again, SLOW)).code, 0);
    // In use on `second` since: rows change there (here: enrollments removed).
    const enrollments = async (change?: 'remove') => {
      const live = await openCatalog({ url: second });
      try {
        if (change) await live.deleteFrom('enrollments').execute();
        return (await live.selectFrom('enrollments').select('token_hash').execute()).length;
      } finally {
        await live.destroy();
      }
    };
    assert.ok((await enrollments()) > 0);
    assert.equal(await enrollments('remove'), 0);
    const r = await runCli(again, SLOW);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /already holds this archive.*nothing was written/);
    assert.equal(await enrollments(), 0, 'old rows were copied into the live catalog');
    assert.equal(existsSync(join(dir, 'migration.json')), false, 'a refused target leaves no unfinished migration behind');
  });

  it('a bad CALLVAULT_MIGRATE_BATCH_ROWS is refused before anything is written, the target database included', async () => {
    const dir = await copyOf(pristine, root, 'bad-batch');
    const target = await targetDatabase();
    const r = await runCli(['migrate', '--data', dir, '--to-database-url', target], { env: { CALLVAULT_MIGRATE_BATCH_ROWS: '0' } });
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /CALLVAULT_MIGRATE_BATCH_ROWS is a whole number of rows/);
    const c = new pg.Client({ connectionString: target });
    await c.connect();
    try {
      const { rows } = await c.query("select count(*)::int as n from information_schema.tables where table_schema = 'public'");
      assert.equal(rows[0].n, 0, 'no table was made in the target');
    } finally {
      await c.end();
    }
    assert.equal(existsSync(join(dir, 'migration.json')), false);
  });

  it('while a move runs, the other commands refuse the archive instead of changing what is being copied', async () => {
    const dir = await copyOf(pristine, root, 'moving');
    const move = lockDataDir(dir, 'migrate'); // as callvault migrate holds it, for the whole move
    try {
      const env = { CALLVAULT_RETENTION_DAYS: '1' };
      for (const args of [['retention'], ['user', 'list'], ['apikey', 'list'], ['audit', 'extract', '--phone', '0701234560'], ['serve', '--listen', '127.0.0.1:0']]) {
        const r = await runCli([...args, '--data', dir], { env });
        assert.equal(r.code, 1, show(r));
        assert.match(r.stderr, /is being moved by callvault migrate \(process \d+ on .+, since .+\): run this again once the move is over/, show(r));
      }
    } finally {
      move.release();
    }
    const r = await runCli(['retention', '--data', dir], { env: { CALLVAULT_RETENTION_DAYS: '1' } });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /3 recordings erased/);
  });

  it('refuses while a server is serving the archive, and refuses a target that is not empty', async () => {
    const dir = await copyOf(pristine, root, 'served');
    const server = await startServing(['serve', '--data', dir], { env: { CALLVAULT_LOG_LEVEL: 'warn' } });
    try {
      await waitForHttp(`${server.url}/healthz`, 30_000);
      const r = await runCli(['migrate', '--data', dir, '--to-database-url', await targetDatabase()], SLOW);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /in use by callvault serve|callvault connection\(s\) are open to the source/);
      assert.match(r.stderr, /stop/);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    assert.equal(existsSync(join(dir, 'callvault.lock')), false, 'serve removes its lock when it stops');

    // Another archive's catalog (the first test's target) is never a target.
    const fresh = join(root, 'fresh');
    await initTestArchive(fresh);
    const r = await runCli(['migrate', '--data', fresh, '--to-database-url', movedTo], SLOW);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /belongs to another archive; give migrate an empty database/);
    // Refused before anything was written: no unfinished migration stands in the way of the right target.
    assert.equal(existsSync(join(fresh, 'migration.json')), false);
    const right = await runCli(['migrate', '--data', fresh, '--to-database-url', await targetDatabase()], SLOW);
    assert.equal(right.code, 0, show(right));
    // A database used for something else is refused before callvault makes its tables there.
    const foreign = await targetDatabase();
    const c = new pg.Client({ connectionString: foreign });
    await c.connect();
    try {
      await c.query('create table invoices (id int primary key)');
      const f = await runCli(['migrate', '--data', await copyOf(pristine, root, 'foreign'), '--to-database-url', foreign], SLOW);
      assert.equal(f.code, 1, show(f));
      assert.match(f.stderr, /holds tables that are not callvault's \(invoices\); nothing was written/);
      const tables = await c.query<{ name: string }>('select table_name as name from information_schema.tables where table_schema = current_schema()');
      assert.deepEqual(tables.rows.map((t) => t.name), ['invoices']);
    } finally {
      await c.end();
    }
    // An unreachable server is a one-line message, not a stack trace.
    const gone = await runCli(['migrate', '--data', await copyOf(pristine, root, 'nowhere'), '--to-database-url', 'postgres://postgres@127.0.0.1:1/none'], SLOW);
    assert.equal(gone.code, 1, show(gone));
    assert.match(gone.stderr, /^callvault: cannot reach the PostgreSQL catalog/);
    assert.doesNotMatch(gone.stderr, /\n\s+at /);
    const usage = await runCli(['migrate', '--data', fresh], SLOW);
    assert.equal(usage.code, 2, show(usage));
    assert.match(usage.stderr, /--to-database-url/);
  });
});
