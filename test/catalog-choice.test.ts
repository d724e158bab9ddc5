// Which catalog an archive uses is fixed when it is created, and recorded in DATA/callvault.json:
// a SQLite archive is never opened against PostgreSQL nor the reverse, and a PostgreSQL catalog
// serves one archive only. Runs against the PostgreSQL test server whichever catalog the rest of
// the suite uses.
import assert from 'node:assert/strict';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ArchiveError, initArchive, openArchive } from '../src/cli/archive.ts';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { createTestDatabase, dropTestDatabase } from './helpers/catalog.ts';
import { runCli, tempRoot, type CliResult } from './helpers/cli.ts';

const show = (r: CliResult) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
const NONE = { CALLVAULT_DATABASE_URL: '' }; // no catalog URL in the child, whatever the suite runs on

describe('an archive keeps the catalog it was created with', () => {
  let root: string;
  const databases: string[] = [];
  const database = async () => {
    const url = await createTestDatabase();
    databases.push(url);
    return url;
  };
  before(async () => { root = await tempRoot('callvault-catalog-choice-'); });
  after(async () => {
    for (const url of databases) await dropTestDatabase(url);
    await rm(root, { recursive: true, force: true });
  });

  it('records the catalog in the marker; refuses SQLite against PostgreSQL and the reverse, with a message saying which', async () => {
    const url = await database();
    const onSqlite = join(root, 'on-sqlite');
    const onPostgres = join(root, 'on-postgres');
    await initArchive(onSqlite);
    await initArchive(onPostgres, { databaseUrl: url });
    const marker = async (dir: string) => (JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')) as { catalog: string }).catalog;
    assert.equal(await marker(onSqlite), 'sqlite');
    assert.equal(await marker(onPostgres), 'postgres');
    assert.ok(!(await readdir(onPostgres)).includes('catalog.sqlite'), 'no SQLite catalog beside a PostgreSQL one');

    await assert.rejects(openArchive(onSqlite, { databaseUrl: url }), (e: Error) => e instanceof ArchiveError && /keeps its catalog in SQLite/.test(e.message));
    await assert.rejects(openArchive(onPostgres), (e: Error) => e instanceof ArchiveError && /keeps its catalog in PostgreSQL/.test(e.message) && /--database-url/.test(e.message));
    const a = await openArchive(onPostgres, { databaseUrl: url });
    try {
      assert.equal(a.catalog, 'postgres');
      assert.equal(await a.accounts.hasActiveUser(), false);
    } finally {
      await a.close();
    }
  });

  it('a database serves one archive: a second init is refused and leaves its directory empty; another archive cannot open it', async () => {
    const url = await database();
    const first = join(root, 'first');
    const second = join(root, 'second');
    await initArchive(first, { databaseUrl: url });
    await assert.rejects(initArchive(second, { databaseUrl: url }), (e: Error) => e instanceof ArchiveError && /belongs to another archive/.test(e.message));
    assert.deepEqual(await readdir(second), [], 'init can simply be run again');
    const other = await database();
    await initArchive(second, { databaseUrl: other });
    await assert.rejects(openArchive(second, { databaseUrl: url }), /belongs to another archive/);
    await assert.rejects(openArchive(first, { databaseUrl: other }), /belongs to another archive/);
  });

  it('a catalog that is not there (lost in a restore, a mistyped database) is refused, and nothing is made in its place', async () => {
    // SQLite: the file is gone.
    const dir = join(root, 'lost-catalog');
    await initArchive(dir);
    await rm(join(dir, 'catalog.sqlite'));
    for (const args of [['user', 'list'], ['enroll-link'], ['serve', '--listen', '127.0.0.1:0']]) {
      const r = await runCli([...args, '--data', dir], { env: NONE });
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, /catalog .*catalog\.sqlite is missing; restore it from a backup/, show(r));
    }
    assert.ok(!(await readdir(dir)).some((n) => n.startsWith('catalog.sqlite')), 'no new, empty catalog was made');
    // The keys, kept apart from the data, not restored with it.
    const keyless = join(root, 'lost-keys');
    await initArchive(keyless);
    await rm(join(keyless, 'keys', 'archive-identity.txt'));
    const k = await runCli(['user', 'list', '--data', keyless], { env: NONE });
    assert.equal(k.code, 1, show(k));
    assert.match(k.stderr, /^callvault: the archive's keys in .*keys cannot be loaded: .*archive-identity\.txt is missing; restore the keys folder from its backup\n$/, show(k));
    // PostgreSQL: an empty database named instead of the archive's.
    const url = await database();
    const wrong = await database();
    const onPostgres = join(root, 'wrong-database');
    await initArchive(onPostgres, { databaseUrl: url });
    const r = await runCli(['user', 'list', '--data', onPostgres], { env: { CALLVAULT_DATABASE_URL: wrong } });
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /holds no callvault catalog; check --database-url/, show(r));
    const c = new pg.Client({ connectionString: wrong });
    await c.connect();
    try {
      const { rows } = await c.query("select count(*)::int as n from information_schema.tables where table_schema = 'public'");
      assert.equal(rows[0].n, 0, 'nothing was made in the wrong database');
    } finally {
      await c.end();
    }
    // The right one opens.
    const ok = await runCli(['user', 'list', '--data', onPostgres], { env: { CALLVAULT_DATABASE_URL: url } });
    assert.equal(ok.code, 0, show(ok));
  });

  it('the command takes --database-url or CALLVAULT_DATABASE_URL, and never prints a password', async () => {
    const url = await database();
    const dir = join(root, 'cli');
    const init = await runCli(['init', '--data', dir, '--database-url', url], { env: NONE });
    assert.equal(init.code, 0, show(init));
    assert.match(init.stdout, /PostgreSQL catalog/);
    const without = await runCli(['apikey', 'list', '--data', dir], { env: NONE });
    assert.equal(without.code, 1, show(without));
    assert.match(without.stderr, /keeps its catalog in PostgreSQL; give its database with --database-url or CALLVAULT_DATABASE_URL/);
    const withEnv = await runCli(['apikey', 'create', '--data', dir, '--scope', 'ingest', '--name', 'pbx'], { env: { CALLVAULT_DATABASE_URL: url } });
    assert.equal(withEnv.code, 0, show(withEnv));
    const users = await runCli(['user', 'list', '--data', dir, '--database-url', url], { env: NONE });
    assert.equal(users.code, 0, show(users));
    assert.match(users.stdout, /^admin\s+invited/m);

    const unreachable = 'postgres://postgres:s3cret-pw@127.0.0.1:1/nowhere';
    const down = await runCli(['apikey', 'list', '--data', dir, '--database-url', unreachable], { env: NONE });
    assert.equal(down.code, 1, show(down));
    assert.match(down.stderr, /cannot reach the PostgreSQL catalog postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere/);
    assert.doesNotMatch(down.stdout + down.stderr, /s3cret-pw/);
  });

  it('the configuration takes a postgres:// URL only, naming the setting, not repeating the URL', () => {
    assert.equal(loadConfig({ data: '/tmp/x' }, {}).databaseUrl, undefined);
    assert.equal(loadConfig({ data: '/tmp/x' }, { CALLVAULT_DATABASE_URL: '' }).databaseUrl, undefined);
    assert.equal(loadConfig({ data: '/tmp/x' }, { CALLVAULT_DATABASE_URL: 'postgres://u@db.internal:5432/callvault' }).databaseUrl, 'postgres://u@db.internal:5432/callvault');
    assert.equal(loadConfig({ data: '/tmp/x', 'database-url': 'postgresql://u@a/b' }, { CALLVAULT_DATABASE_URL: 'postgres://u@c/d' }).databaseUrl, 'postgresql://u@a/b');
    for (const bad of ['mysql://u:pw-x@h/db', 'postgres://u:pw-x@h', 'not a url pw-x', 'postgres://u:pw-x@/db']) {
      assert.throws(() => loadConfig({ data: '/tmp/x' }, { CALLVAULT_DATABASE_URL: bad }),
        (e: Error) => e instanceof ConfigError && /CALLVAULT_DATABASE_URL/.test(e.message) && !e.message.includes('pw-x'), bad);
    }
  });
});
