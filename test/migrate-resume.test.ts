// A migration interrupted, then resumed after the archive was used again in between (it stays
// the live archive until the move completes): a recording erased there must be erased in the
// copy too (its row the same tombstone, its object gone from the target store), and what was
// filed, held, signed in and audited since is carried over; the resumed run finishes, the
// archive switches, and its audit log verifies.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { auditVerifierKey, logOrigin } from '../src/audit/checkpointer.ts';
import { verifyAuditLog } from '../src/audit/verify.ts';
import { describeDatabaseUrl, openCatalog, type Catalog } from '../src/catalog/db.ts';
import { migrateArchive, type MigrationProgress, type MigrationResult } from '../src/cli/migrate.ts';
import { makeWav, sineWaveS16 } from '../src/ingest/wav.ts';
import { BlobNotFoundError, type BlobStore } from '../src/store/blob-store.ts';
import { createS3BlobStore } from '../src/store/s3.ts';
import { describeLocation, parseBlobUrl, type S3Location } from '../src/store/s3-url.ts';
import { testBucketUrl } from '../src/store/test-s3-server.ts';
import { enrollPerson, reopenServer, sendAs, signIn, type ServedArchive, type TestServer } from './helpers/archive.ts';
import { catalogEnv, databaseUrlOf, openTestArchive } from './helpers/catalog.ts';
import { BIN, cleanEnv, runCli } from './helpers/cli.ts';
import { copyOf, migrationFixture, serveWith, targetDatabase } from './helpers/migration.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

const quiet: MigrationProgress = { phase() {}, table() {}, blobs() {} };
/** Killed once the recordings and a first batch of the audit log are in the target catalog. */
const killedInTheLog: MigrationProgress = { ...quiet, table(p) { if (p.table === 'audit_events' && p.done > 0) throw new Error('injected failure'); } };
/** Killed once an object is in the target store. */
const killedInTheObjects: MigrationProgress = { ...quiet, blobs(p) { if (p.objects > 0) throw new Error('injected failure'); } };

const asServer = (s: ServedArchive) => ({ url: s.url, archive: s.archive }) as TestServer;

/** Every column of a row in a form equal whichever catalog read it. */
const plain = (row: Record<string, unknown>) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v]));

async function absent(store: BlobStore, key: string): Promise<boolean> {
  try {
    await store.size(key);
    return false;
  } catch (e) {
    if (e instanceof BlobNotFoundError) return true;
    throw e;
  }
}

const wav = (hz: number, seconds = 2) => makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, samples: sineWaveS16({ sampleRate: 8000, seconds, hz }) });

describe('a migration resumed after the archive was used in between', () => {
  const fx = migrationFixture('callvault-migrate-resume-');

  const bucketUrl = (prefix: string) => testBucketUrl(fx.s3, prefix);

  /** One run of migrate on the archive in `dir` (closed), in this process, naming the targets as the command does. */
  async function run(dir: string, to: { database?: string; location?: S3Location }, progress: MigrationProgress): Promise<MigrationResult> {
    const a = await openTestArchive(dir);
    const db = to.database ? await openCatalog({ url: to.database }) : undefined;
    const store = to.location ? await createS3BlobStore(to.location) : undefined;
    try {
      return await migrateArchive({
        source: { dir, db: a.db, catalog: a.catalog, store: a.store, blobs: a.blobs },
        toCatalog: db && to.database ? { db, dialect: 'postgres', name: describeDatabaseUrl(to.database) } : undefined,
        toStore: store && to.location ? { store, kind: 's3', name: describeLocation(to.location) } : undefined,
        actor: { type: 'operator', id: 'test' }, progress, batchRows: 5,
      });
    } finally {
      await store?.close();
      await db?.destroy();
      await a.close();
    }
  }

  async function withTarget<T>(url: string, fn: (db: Catalog) => Promise<T>): Promise<T> {
    const db = await openCatalog({ url });
    try {
      return await fn(db);
    } finally {
      await db.destroy();
    }
  }

  async function withBucket<T>(location: S3Location, fn: (store: BlobStore) => Promise<T>): Promise<T> {
    const store = await createS3BlobStore(location);
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  it('to PostgreSQL and S3: a recording erased between the runs is the same tombstone in the copy and its object is gone; what was filed, held and audited since is copied; the log verifies', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'both');
    const ids = [...fx.pristine.wavs.keys()];
    const blobUrl = bucketUrl('resume-both');
    const location = parseBlobUrl(blobUrl);
    const target = await targetDatabase();

    // A call that names its patient is filed first: its tombstone must lose the patient's index too.
    let s = await reopenServer(dir);
    const { token: ingest } = await s.archive.apiKeys.create({ name: 'pbx-2', scope: 'ingest', actor: { type: 'operator', id: 'test' } });
    const meta = { direction: 'inbound', careUnit: 'unit-0', caller: '070-111 22 33' };
    const doomed = recordingIdOf(await tusUpload(s.url, ingest, wav(500), { ...meta, startedAt: '2026-11-25T09:00:00+01:00', patientId: '19811218-9876' }));
    await s.close();

    await assert.rejects(run(dir, { database: target, location }, killedInTheLog), /injected failure/);
    const doomedKey = await withTarget(target, async (db) => {
      const r = await db.selectFrom('recordings').selectAll().where('id', '=', doomed).executeTakeFirstOrThrow();
      assert.ok(r.header.length > 0 && r.patient_index !== null, 'the first run copied the recording with its key and indexes');
      return r.blob_key;
    });
    assert.equal(await withBucket(location, (b) => absent(b, doomedKey)), false, 'the first run copied its object');

    // Served again between the runs: a privacy officer erases the call, holds another; a call is filed.
    s = await reopenServer(dir);
    const officer = await enrollPerson(asServer(s), 'dpo', { roles: ['privacy_officer'] });
    const c = await signIn(asServer(s), officer);
    assert.equal((await sendAs(asServer(s), c, 'POST', `/api/v1/recordings/${doomed}/erase`, { basis: 'data_subject_request' })).status, 200);
    assert.equal((await sendAs(asServer(s), c, 'POST', `/api/v1/recordings/${ids[0]}/legal-hold`, { hold: true })).status, 200);
    const late = wav(700, 3);
    const filed = recordingIdOf(await tusUpload(s.url, ingest, late, { ...meta, startedAt: '2026-11-26T10:00:00+01:00' }));
    await s.running.checkpointer.checkpoint();
    const tombstone = plain(await s.archive.db.selectFrom('recordings').selectAll().where('id', '=', doomed).executeTakeFirstOrThrow());
    assert.equal(await absent(s.archive.store, doomedKey), true, 'the erasure deleted the source object');
    await s.close();

    const done = await run(dir, { database: target, location }, quiet);
    assert.equal(done.resumed, true);
    assert.equal(JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')).catalog, 'postgres');

    await withTarget(target, async (db) => {
      const copy = await db.selectFrom('recordings').selectAll().where('id', '=', doomed).executeTakeFirstOrThrow();
      assert.deepEqual(plain(copy), tombstone, 'the copy is the source\'s tombstone, column for column');
      assert.ok(copy.erased_at !== null);
      assert.equal(copy.header.length, 0, 'the wrapped file key is gone from the copy');
      for (const col of ['caller_sealed', 'callee_sealed', 'caller_index', 'callee_index', 'patient_index', 'external_call_id'] as const) assert.equal(copy[col], null, col);
      assert.equal((await db.selectFrom('recordings').select('legal_hold').where('id', '=', ids[0]!).executeTakeFirstOrThrow()).legal_hold, 1, 'the hold is carried over');
      assert.ok(await db.selectFrom('recordings').select('id').where('id', '=', filed).executeTakeFirst(), 'the call filed since is copied');
      const erasedEvents = await db.selectFrom('audit_events').select('seq').where('action', '=', 'recording.erased').where('object_id', '=', doomed).execute();
      assert.equal(erasedEvents.length, 1, 'the erasure\'s audit event is copied');
    });
    assert.equal(await withBucket(location, (b) => absent(b, doomedKey)), true, 'the erased recording\'s object is gone from the target store');

    const served = await serveWith(dir, { databaseUrl: target, blobUrl });
    try {
      const session = await signIn({ url: served.url } as TestServer, fx.pristine.listener);
      const res = await fetch(`${served.url}/api/v1/recordings/${filed}/audio`, { headers: { cookie: session.cookie } });
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(late), 'the call filed between the runs plays from the new places');
      assert.equal((await fetch(`${served.url}/api/v1/recordings/${doomed}`, { headers: { cookie: session.cookie } })).status, 404);
      const a = served.archive;
      const report = await verifyAuditLog({ db: a.db, vkey: auditVerifierKey(logOrigin(a.keys.archiveRecipient), a.keys.auditSigningKey()), witnessDir: `${dir}-witness` });
      assert.deepEqual(report.problems, []);
    } finally {
      await served.close();
    }
  });

  it('only the catalog moves: the erasure, the sign-ins and the sessions of the time between the runs reach the copy, row for row', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'catalog');
    const ids = [...fx.pristine.wavs.keys()];
    const target = await targetDatabase();
    // A privacy officer signs in before the first run: the session is copied.
    let s = await reopenServer(dir);
    const c = await signIn(asServer(s), await enrollPerson(asServer(s), 'dpo', { roles: ['privacy_officer'] }));
    await s.close();
    await assert.rejects(run(dir, { database: target }, killedInTheLog), /injected failure/);
    const sessions = () => withTarget(target, async (db) => (await db.selectFrom('sessions').select('id_hash').execute()).length);
    const copied = await sessions();

    // Between the runs the officer erases a recording and signs out (the session row is deleted).
    s = await reopenServer(dir);
    assert.equal((await sendAs(asServer(s), c, 'POST', `/api/v1/recordings/${ids[2]}/erase`, { basis: 'data_subject_request' })).status, 200);
    assert.ok((await sendAs(asServer(s), c, 'DELETE', '/api/v1/session')).ok);
    const tombstone = plain(await s.archive.db.selectFrom('recordings').selectAll().where('id', '=', ids[2]!).executeTakeFirstOrThrow());
    await s.close();

    // Run again as an operator would.
    const r = await runCli(['migrate', '--data', dir, '--to-database-url', target], { timeoutMs: 60_000, env: catalogEnv(dir) });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /Brought up to date with what changed since the earlier run: \d+ rows rewritten, 1 removed; recordings erased in the meantime, now erased in the copy too: 1\./);
    await withTarget(target, async (db) => {
      const copy = await db.selectFrom('recordings').selectAll().where('id', '=', ids[2]!).executeTakeFirstOrThrow();
      assert.deepEqual(plain(copy), tombstone);
      assert.equal(copy.header.length, 0);
    });
    assert.equal(await sessions(), copied - 1, 'the session ended between the runs is gone from the copy');
    const a = await serveWith(dir, { databaseUrl: target });
    try {
      const report = await verifyAuditLog({ db: a.archive.db, vkey: auditVerifierKey(logOrigin(a.archive.keys.archiveRecipient), a.archive.keys.auditSigningKey()), witnessDir: `${dir}-witness` });
      assert.deepEqual(report.problems, []);
    } finally {
      await a.close();
    }
  });

  it('an object an erasure queued for deletion (the store failed to delete it) is not copied and is deleted from the target; the queue moves with the catalog', async (t) => {
    const dir = await copyOf(fx.pristine, fx.root, 'queued');
    const ids = [...fx.pristine.wavs.keys()];
    const blobUrl = bucketUrl('resume-queued');
    const location = parseBlobUrl(blobUrl);
    const target = await targetDatabase();
    await assert.rejects(run(dir, { database: target, location }, killedInTheLog), /injected failure/);

    // The state an erasure leaves when the store is away: the row a tombstone, the object still in the store, queued.
    const a = await openTestArchive(dir);
    let key: string;
    try {
      if (!(await a.db.introspection.getTables()).some((x) => x.name === 'pending_deletions')) {
        t.skip('this catalog has no queue of objects to delete');
        return;
      }
      key = (await a.db.selectFrom('recordings').select('blob_key').where('id', '=', ids[1]!).executeTakeFirstOrThrow()).blob_key;
      await a.db.updateTable('recordings').set({ erased_at: Date.now(), header: new Uint8Array(0), caller_sealed: null, callee_sealed: null, caller_index: null, callee_index: null, patient_index: null, external_call_id: null })
        .where('id', '=', ids[1]!).execute();
      await sql`insert into pending_deletions (blob_key, recording_id, queued_at, attempts, last_error) values (${key}, ${ids[1]!}, ${Date.now()}, 3, 'the store was away')`.execute(a.db);
      assert.equal(await absent(a.store, key), false);
    } finally {
      await a.close();
    }

    const done = await run(dir, { database: target, location }, quiet);
    assert.equal(done.blobs?.removed, 1);
    assert.equal(done.blobs?.objects, ids.length - 1);
    assert.equal(await withBucket(location, (b) => absent(b, key)), true, 'the queued object is not in the target store');
    await withTarget(target, async (db) => {
      const { rows } = await sql<{ blob_key: string; attempts: number }>`select blob_key, attempts from pending_deletions`.execute(db);
      assert.deepEqual(rows.map((r) => [r.blob_key, Number(r.attempts)]), [[key, 3]], 'the queue is in the new catalog');
      assert.equal((await db.selectFrom('recordings').select('header').where('id', '=', ids[1]!).executeTakeFirstOrThrow()).header.length, 0);
    });
  });

  for (const withCatalog of [false, true]) {
    it(`a process that ignores the move's lock erases recordings while ${withCatalog ? 'catalog and objects' : 'the objects'} are copied: nothing is switched; run again, the move finishes and their objects are not in the target`, async () => {
      const dir = await copyOf(fx.pristine, fx.root, `changed-meanwhile-${withCatalog}`);
      const location = parseBlobUrl(bucketUrl(`changed-meanwhile-${withCatalog}`));
      const database = withCatalog ? await targetDatabase() : undefined;
      const a = await openTestArchive(dir);
      const keys = (await a.db.selectFrom('recordings').select('blob_key').execute()).map((r) => r.blob_key);
      await a.close();
      assert.equal(keys.length, 3);
      let retention: ReturnType<typeof spawnSync> | undefined;
      // Once every object is copied, retention runs from the command line in another process (the
      // calls started in November: past a one-day period), as an operator's cron job would.
      const meanwhile: MigrationProgress = { ...quiet, blobs(p) {
        if (retention || p.objects < p.totalObjects) return;
        retention = spawnSync(process.execPath, [BIN, 'retention', '--data', dir], { env: cleanEnv({ ...catalogEnv(dir), CALLVAULT_RETENTION_DAYS: '1' }), encoding: 'utf8' });
      } };
      await assert.rejects(run(dir, { database, location }, meanwhile), /changed while it was being moved/);
      assert.equal(retention?.status, 0, String(retention?.stderr));
      assert.match(String(retention?.stdout), /3 recordings erased/);
      assert.equal(JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')).blobs, 'fs', 'nothing was switched');

      const done = await run(dir, { database, location }, quiet);
      assert.equal(done.resumed, true);
      assert.equal(JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')).blobs, 's3');
      for (const k of keys) assert.equal(await withBucket(location, (b) => absent(b, k)), true, `the object ${k} of an erased recording is not in the target store`);
      if (database) {
        await withTarget(database, async (db) => {
          const rows = await db.selectFrom('recordings').select(['erased_at', 'header']).execute();
          assert.ok(rows.length === 3 && rows.every((r) => r.erased_at !== null && r.header.length === 0), 'the copy holds the tombstones, no key');
        });
      }
    });
  }

  it('only the objects move: a recording erased between the runs has its object deleted from the target store, and the move finishes', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'objects');
    const ids = [...fx.pristine.wavs.keys()];
    const blobUrl = bucketUrl('resume-objects');
    const location = parseBlobUrl(blobUrl);
    await assert.rejects(run(dir, { location }, killedInTheObjects), /injected failure/);
    const keys = await withBucket(location, async (b) => {
      const listed: string[] = [];
      for await (const k of b.list()) listed.push(k);
      return listed;
    });
    assert.ok(keys.length > 0);

    // The erased recording is one whose object the first run copied.
    let s = await reopenServer(dir);
    const rows = await s.archive.db.selectFrom('recordings').select(['id', 'blob_key']).where('blob_key', 'in', keys).execute();
    const doomed = rows[0]!;
    const officer = await enrollPerson(asServer(s), 'dpo', { roles: ['privacy_officer'] });
    const c = await signIn(asServer(s), officer);
    assert.equal((await sendAs(asServer(s), c, 'POST', `/api/v1/recordings/${doomed.id}/erase`, { basis: 'retention' })).status, 200);
    await s.close();

    const done = await run(dir, { location }, quiet);
    assert.equal(done.resumed, true);
    assert.equal(done.blobs?.objects, ids.length - 1);
    assert.equal(await withBucket(location, (b) => absent(b, doomed.blob_key)), true, 'the erased recording\'s object is gone from the target store');
    assert.equal(JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')).blobs, 's3');
    s = await serveWith(dir, { databaseUrl: databaseUrlOf(dir), blobUrl });
    try {
      const session = await signIn({ url: s.url } as TestServer, fx.pristine.listener);
      for (const id of ids.filter((i) => i !== doomed.id)) {
        const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(fx.pristine.wavs.get(id)!), `recording ${id} plays from the bucket`);
      }
    } finally {
      await s.close();
    }
  });
});
