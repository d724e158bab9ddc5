// Moving an archive's recordings between blob stores, and the copiers' own guarantees: the
// archive moves to PostgreSQL and a real S3-compatible server (on loopback) in one run and plays
// from the bucket; interrupted copies complete when run again; a target that does not keep what
// it is given, a damaged object, a changed row and a foreign target are all caught.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { open as openFile, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { auditVerifierKey, logOrigin } from '../src/audit/checkpointer.ts';
import { verifyAuditLog } from '../src/audit/verify.ts';
import { copyCatalog, verifyCopy } from '../src/catalog/copy.ts';
import { openCatalog } from '../src/catalog/db.ts';
import { migrateArchive, type MigrationProgress } from '../src/cli/migrate.ts';
import type { BlobStore } from '../src/store/blob-store.ts';
import { checkTargetStore, copyBlobs, planBlobCopy } from '../src/store/copy.ts';
import { createFsBlobStore } from '../src/store/fs.ts';
import { createS3BlobStore } from '../src/store/s3.ts';
import { describeLocation, parseBlobUrl } from '../src/store/s3-url.ts';
import { TEST_S3_ENV, testBucketUrl } from '../src/store/test-s3-server.ts';
import { signIn, type TestServer } from './helpers/archive.ts';
import { openTestArchive } from './helpers/catalog.ts';
import { runCli } from './helpers/cli.ts';
import { copyOf, migrationFixture, serveWith, targetDatabase } from './helpers/migration.ts';

const quiet: MigrationProgress = { phase() {}, table() {}, blobs() {} };

/** A store that fails to start its `n`th new object: a copy killed midway. */
function failingAfter(store: BlobStore, n: number): BlobStore {
  let made = 0;
  return { ...store, create: (key) => (++made > n ? Promise.reject(new Error('injected failure')) : store.create(key)) };
}

/** A store that flips a bit of everything written to it: it does not keep what it is given. */
function flipping(store: BlobStore): BlobStore {
  return {
    ...store,
    async create(key) {
      const w = await store.create(key);
      return {
        get key() { return w.key; },
        get size() { return w.size; },
        write(data: Uint8Array | readonly Uint8Array[]) {
          const parts = (data instanceof Uint8Array ? [data] : [...data]).map((p) => Buffer.from(p));
          if (parts[0]?.length) parts[0][0]! ^= 1;
          return w.write(parts);
        },
        flush: () => w.flush(),
        commit: () => w.commit(),
        abort: () => w.abort(),
      };
    },
  };
}

describe('migrating blobs and what the copiers guarantee', () => {
  const fx = migrationFixture('callvault-migrate-stores-');

  it('moves catalog and recordings to PostgreSQL and S3 in one run; the archive plays from the bucket and verifies', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'to-s3');
    const target = await targetDatabase();
    const blobUrl = testBucketUrl(fx.s3, 'moved');
    const r = await runCli(['migrate', '--data', dir, '--to-database-url', target, '--to-blob-url', blobUrl], {
      timeoutMs: 60_000,
      env: { ...TEST_S3_ENV },
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /Blobs: 3 objects .*every one read back/);
    assert.match(r.stdout, /--blob-url 's3:\/\/callvault-test\/moved/);
    assert.doesNotMatch(r.stdout + r.stderr, /S3RVER/);
    // The recordings play from the bucket: the local blob folder is moved away.
    await rm(join(dir, 'blobs'), { recursive: true });
    const s = await serveWith(dir, { databaseUrl: target, blobUrl });
    try {
      assert.equal(s.archive.blobs, 's3');
      const session = await signIn({ url: s.url } as TestServer, fx.pristine.listener);
      for (const [id, wav] of fx.pristine.wavs) {
        const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
        assert.ok(Buffer.from(await res.arrayBuffer()).equals(wav), `recording ${id} plays from the bucket as uploaded`);
      }
      const report = await verifyAuditLog({ db: s.archive.db, vkey: auditVerifierKey(logOrigin(s.archive.keys.archiveRecipient), s.archive.keys.auditSigningKey()), witnessDir: `${dir}-witness` });
      assert.deepEqual(report.problems, []);
    } finally {
      await s.close();
    }
  });

  it('copies objects again after an interruption, replaces a damaged one, and refuses a target that does not keep them', async () => {
    const a = await openTestArchive(fx.pristine.dir);
    const dest = await createFsBlobStore(join(fx.root, 'dest-blobs'));
    try {
      const required = (await a.db.selectFrom('recordings').select('blob_key').execute()).map((r) => r.blob_key);
      const plan = await planBlobCopy(a.store, required, []);
      assert.equal(plan.keys.length, 3);
      await assert.rejects(copyBlobs(a.store, failingAfter(dest, 1), plan, { concurrency: 1 }), /injected failure/);
      const resumed = await copyBlobs(a.store, dest, plan);
      assert.deepEqual({ objects: resumed.objects, copied: resumed.copied, replaced: resumed.replaced }, { objects: 3, copied: 2, replaced: 0 });
      // A byte of one copied object goes bad on the target's disk: the next run finds and replaces it.
      const key = plan.keys[1]!;
      const fh = await openFile(join(fx.root, 'dest-blobs', key.slice(0, 2), key.slice(2, 4), key), 'r+');
      await fh.write(Buffer.from([0xff]), 0, 1, 100);
      await fh.close();
      const again = await copyBlobs(a.store, dest, plan);
      assert.deepEqual({ copied: again.copied, replaced: again.replaced }, { copied: 1, replaced: 1 });
      assert.deepEqual(await dest.read(key, 0, 200), await a.store.read(key, 0, 200));
      // A store that changes what it is given fails the read-back, naming the object.
      const other = await createFsBlobStore(join(fx.root, 'flipping-blobs'));
      await assert.rejects(copyBlobs(a.store, flipping(other), plan), /reads back from the target different from the source/);
      // An object the catalog refers to but the source lacks stops everything before a copy.
      await assert.rejects(planBlobCopy(a.store, [...required, 'f'.repeat(32)], []), /missing from the source blob store/);
      // A target holding another archive's objects is refused.
      const w = await dest.create();
      await w.write(Buffer.from('not ours'));
      await w.commit();
      await assert.rejects(checkTargetStore(dest, plan), /holds objects this archive does not have/);
    } finally {
      await dest.close();
      await a.close();
    }
  });

  it('completes a catalog copy that failed midway, finds a changed row, and copies PostgreSQL back to SQLite', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'interrupted');
    const target = await targetDatabase();
    const a = await openTestArchive(dir);
    const db = await openCatalog({ url: target });
    try {
      const failing: MigrationProgress = { ...quiet, table(p) { if (p.table === 'audit_events' && p.done > 0) throw new Error('injected failure'); } };
      const source = { dir, db: a.db, catalog: a.catalog, store: a.store, blobs: a.blobs };
      const actor = { type: 'operator' as const, id: 'test' };
      await assert.rejects(migrateArchive({ source, toCatalog: { db, dialect: 'postgres', name: 'target' }, actor, progress: failing, batchRows: 5 }), /injected failure/);
      const partial = (await db.selectFrom('audit_events').select('seq').execute()).length;
      assert.equal(partial, 5, 'one batch of the audit log was copied');
      const done = await migrateArchive({ source, toCatalog: { db, dialect: 'postgres', name: 'target' }, actor, progress: quiet, batchRows: 5 });
      assert.equal(done.resumed, true);
      const events = done.catalog!.tables.find((t) => t.table === 'audit_events')!.rows;
      assert.equal((await db.selectFrom('audit_events').select('seq').execute()).length, events + 1, 'every entry once, and the migration event');

      const back = await openCatalog({ file: join(fx.root, 'back.sqlite') });
      try {
        const report = await copyCatalog(db, back);
        assert.ok(report.tables.every((t) => t.rows >= 0));
        await back.updateTable('users').set({ username: 'someone-else' }).where('username', '=', 'nurse').execute();
        await assert.rejects(verifyCopy(db, back), /does not match the source: users \(source 2 rows, target 2, contents differ\)/);
      } finally {
        await back.destroy();
      }
    } finally {
      await db.destroy();
      await a.close();
    }
    assert.equal(JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')).catalog, 'postgres');
  });

  it('moving only the objects, interrupted between its audit event and the switch, then used: run again, it copies what was filed since', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'blobs-stale');
    const location = parseBlobUrl(testBucketUrl(fx.s3, 'stale'));
    const a = await openTestArchive(dir);
    const target = await createS3BlobStore(location);
    try {
      const marker = await readFile(join(dir, 'callvault.json'), 'utf8');
      const source = { dir, db: a.db, catalog: a.catalog, store: a.store, blobs: a.blobs };
      const run = () => migrateArchive({ source, toStore: { store: target, kind: 's3', name: describeLocation(location) }, actor: { type: 'operator', id: 'test' }, progress: quiet });
      assert.equal((await run()).blobs?.objects, 3);
      // The state a run killed after its audit event and before the switch leaves behind.
      const event = await a.db.selectFrom('audit_events').select('details').where('action', '=', 'archive.migrated').executeTakeFirstOrThrow();
      await writeFile(join(dir, 'migration.json'), JSON.stringify({ id: JSON.parse(event.details!).migration, startedAt: new Date().toISOString(), to: { blobs: describeLocation(location) } }));
      await writeFile(join(dir, 'callvault.json'), marker);
      // The archive, still on its local objects, files one more call (its object, its row, its audit event).
      const model = (await a.db.selectFrom('recordings').selectAll().limit(1).executeTakeFirstOrThrow());
      const w = await a.store.create();
      for await (const piece of a.store.stream(model.blob_key)) await w.write(piece);
      await w.commit();
      const id = 'e'.repeat(32);
      await a.db.transaction().execute(async (trx) => {
        await a.recordings.insert({ ...model, id, blob_key: w.key, external_call_id: null, legal_hold: undefined, upload_length: undefined }, trx);
        await a.audit.record({ action: 'ingest.completed', actor: { type: 'system', id: 'test' }, outcome: 'success', object: { type: 'recording', id } }, trx);
      });
      const again = await run();
      assert.equal(again.alreadyCopied, false, 'switched without copying what was filed since');
      assert.equal(again.blobs?.objects, 4);
      assert.equal(await target.size(w.key), await a.store.size(w.key));
      assert.equal(JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')).blobs, 's3');
    } finally {
      await target.close();
      await a.close();
    }
  });

  it('the old copy a move leaves in the data directory: the server warns of it; --remove-old-copy checks it against the archive, refuses while an object is missing, then removes it, audited', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'old-copy');
    const target = await targetDatabase();
    const blobUrl = testBucketUrl(fx.s3, 'old-copy');
    const env = { ...TEST_S3_ENV };
    // On the embedded catalog the old catalog stays in the data directory too; a PostgreSQL source stays where it is.
    const embedded = existsSync(join(dir, 'catalog.sqlite'));
    const moved = await runCli(['migrate', '--data', dir, '--to-database-url', target, '--to-blob-url', blobUrl], { timeoutMs: 60_000, env });
    assert.equal(moved.code, 0, `${moved.stdout}\n${moved.stderr}`);
    assert.match(moved.stdout, /The old copy stays in the data directory .*local blob store.* erasures do not reach it.*--remove-old-copy/s);
    assert.equal(/old PostgreSQL catalog was left as it was/.test(moved.stdout), !embedded);
    assert.ok(existsSync(join(dir, 'blobs')));

    const settings = ['--data', dir, '--database-url', target, '--blob-url', blobUrl];
    const logs: string[] = [];
    const served = await serveWith(dir, { databaseUrl: target, blobUrl }, logs);
    const ids = [...fx.pristine.wavs.keys()];
    const key = (await served.archive.db.selectFrom('recordings').select('blob_key').where('id', '=', ids[1]!).executeTakeFirstOrThrow()).blob_key;
    await served.close();
    assert.match(logs.join(''), /an old copy of this archive is still in the data directory.*local blob store.*Erasures do not reach it/);

    // The bucket lost a recording: the old copy may be all that is left of it, and stays.
    const bucket = await createS3BlobStore(parseBlobUrl(blobUrl));
    const local = await createFsBlobStore(join(dir, 'blobs'));
    try {
      await bucket.delete(key);
      const refused = await runCli(['migrate', ...settings, '--remove-old-copy'], { env });
      assert.equal(refused.code, 1, `${refused.stdout}\n${refused.stderr}`);
      assert.match(refused.stderr, new RegExp(`recording object ${key} is missing from the archive's store .*nothing was removed`));
      assert.ok(existsSync(join(dir, 'blobs')) && existsSync(join(dir, 'catalog.sqlite')) === embedded, 'nothing removed');
      await copyBlobs(local, bucket, await planBlobCopy(local, [key], []));
    } finally {
      await bucket.close();
    }
    if (embedded) {
      // An old catalog that cannot be read is refused with a message, nothing removed.
      await rename(join(dir, 'catalog.sqlite'), join(dir, 'catalog.sqlite.kept'));
      await writeFile(join(dir, 'catalog.sqlite'), 'not a database, not even close to one'.repeat(200));
      const damaged = await runCli(['migrate', ...settings, '--remove-old-copy'], { env });
      assert.equal(damaged.code, 1, `${damaged.stdout}\n${damaged.stderr}`);
      assert.match(damaged.stderr, /^callvault: the old catalog .*catalog\.sqlite cannot be read .*nothing was removed\n$/);
      assert.ok(existsSync(join(dir, 'blobs')));
      await rename(join(dir, 'catalog.sqlite.kept'), join(dir, 'catalog.sqlite'));
      for (const f of ['catalog.sqlite-wal', 'catalog.sqlite-shm']) await rm(join(dir, f), { force: true });
    }

    const removed = await runCli(['migrate', ...settings, '--remove-old-copy'], { env });
    assert.equal(removed.code, 0, `${removed.stdout}\n${removed.stderr}`);
    assert.match(removed.stdout, embedded ? /Removed the old copy: the embedded catalog \(catalog\.sqlite.*\) and the local blob store \(3 objects, \d+ bytes\)/ : /Removed the old copy: the local blob store \(3 objects/);
    assert.ok(!existsSync(join(dir, 'blobs')));
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('catalog.sqlite')), [], 'no file of the old catalog is left (checking it makes its -wal and -shm)');
    assert.match((await runCli(['migrate', ...settings, '--remove-old-copy'], { env })).stdout, /No old copy in the data directory: nothing to remove/);

    logs.length = 0;
    const after = await serveWith(dir, { databaseUrl: target, blobUrl }, logs);
    try {
      assert.doesNotMatch(logs.join(''), /old copy/);
      const event = await after.archive.db.selectFrom('audit_events').select(['actor_type', 'details']).where('action', '=', 'archive.old_copy_removed').execute();
      assert.equal(event.length, 1, 'the removal is audited once; the runs that removed nothing are not');
      assert.equal(event[0]!.actor_type, 'operator');
      const details = JSON.parse(event[0]!.details!) as { catalogFiles: string[]; objects: number; bytes: number };
      assert.equal(details.catalogFiles.includes('catalog.sqlite'), embedded);
      assert.equal(details.objects, 3);
      assert.ok(details.bytes > 3 * 8000, 'the sealed recordings\' bytes');
      const session = await signIn({ url: after.url } as TestServer, fx.pristine.listener);
      const res = await fetch(`${after.url}/api/v1/recordings/${ids[1]}/audio`, { headers: { cookie: session.cookie } });
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(fx.pristine.wavs.get(ids[1]!)!), 'the recording whose object was put back plays');
    } finally {
      await after.close();
    }
    assert.equal((await runCli(['audit', 'verify', ...settings], { env })).code, 0);
  });

  it('waits for calls in flight: refused before anything is written', async () => {
    const dir = await copyOf(fx.pristine, fx.root, 'in-flight');
    const a = await openTestArchive(dir);
    const db = await openCatalog({ url: await targetDatabase() });
    try {
      await a.db.insertInto('uploads').values({
        id: 'a'.repeat(32), key_id: 'k', created_at: Date.now(), length: null, header: new Uint8Array(1), payload_prefix: new Uint8Array(0), blob_key: 'b'.repeat(32),
        codec: 'wav', sample_rate: null, channels: null, external_call_id: null, started_at: Date.now(), direction: 'inbound', care_unit: 'unit-a', agent_id: null,
        caller_sealed: null, callee_sealed: null, caller_index: null, callee_index: null, resumes_recording: 0,
      } as never).execute();
      const source = { dir, db: a.db, catalog: a.catalog, store: a.store, blobs: a.blobs };
      await assert.rejects(migrateArchive({ source, toCatalog: { db, dialect: 'postgres', name: 'target' }, actor: { type: 'operator', id: 'test' }, progress: quiet }),
        /1 call\(s\) are still in flight .* serve the archive until they have ended/);
      assert.equal((await db.selectFrom('archive_binding').select('archive_recipient').execute()).length, 0);
      await assert.rejects(readFile(join(dir, 'migration.json')), /ENOENT/);
    } finally {
      await db.destroy();
      await a.close();
    }
  });
});
