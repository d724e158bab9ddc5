// Erasure racing what goes on around it: a call resumed at the moment it is erased, a call going
// on at another node, a store that is away (then a shutdown), a reader holding the catalog.
import assert from 'node:assert/strict';
import { cp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import SqliteDatabase from 'better-sqlite3';
import { initArchive, openArchive, type Archive } from '../src/cli/archive.ts';
import { startServer, type Running } from '../src/cli/server.ts';
import { loadConfig } from '../src/config/config.ts';
import { makeRawG711 } from '../src/ingest/g711.ts';
import { startTestS3, TEST_S3_ENV, testBucketUrl } from '../src/store/test-s3-server.ts';
import { enrollPerson, ingestKey, reopenServer, signIn, startTestServer, sendAs as send, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { catalogFor, createTestDatabase, dropTestDatabase, releaseTestArchive, TEST_CATALOG } from './helpers/catalog.ts';
import { tempRoot } from './helpers/cli.ts';
import { watchEventLoop } from './helpers/event-loop.ts';
import { metaHeader, recordingIdOf, tusCreate, tusPatch, tusUpload } from './helpers/tus.ts';

const RAW = { startedAt: '2026-11-25T09:00:00Z', direction: 'inbound', careUnit: 'Norr', codec: 'pcmu', sampleRate: '8000', channels: '1' };
const audio = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 40 });

/** A live call of two 10-second pieces; returns its id. */
async function twoPieces(url: string, key: string, caller: string): Promise<string> {
  const created = await tusCreate(url, key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader({ ...RAW, caller }) });
  assert.equal(created.status, 201);
  const id = recordingIdOf(created.headers.get('location')!);
  for (let i = 0; i < 2; i++) assert.equal((await tusPatch(url, key, id, i * 80_000, audio.subarray(i * 80_000, (i + 1) * 80_000))).status, 204);
  return id;
}

interface Node {
  s: TestServer;
  archive: Archive;
  running: Running;
  close(): Promise<void>;
}

/** Serves the archive in `dir` on loopback with the given settings (one node). */
async function serve(dir: string, where: { databaseUrl?: string; blobUrl?: string }, flags: Record<string, string> = {}, env: Record<string, string> = {}): Promise<Node> {
  const archive = await openArchive(dir, where);
  const logs: string[] = [];
  const running = await startServer(archive, loadConfig({ data: dir, listen: '127.0.0.1:0', ...flags }, env), new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } }), env);
  const addr = running.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  const s = { url: `http://127.0.0.1:${addr.port}`, dir, archive, running, logs } as unknown as TestServer;
  let closed = false;
  return {
    s, archive, running,
    async close() {
      if (closed) return;
      closed = true;
      await running.close();
      await archive.close();
    },
  };
}

function useTestS3Credentials(): void {
  Object.assign(process.env, TEST_S3_ENV);
}

describe('erasure racing a call', () => {
  it('an erasure landing while the call is being reopened ends it: no byte is taken after it, nothing of it stays in memory', async () => {
    const s = await startTestServer();
    const root = dirname(s.dir);
    const key = await ingestKey(s);
    const c = await signIn(s, await enrollPerson(s, 'dpo', { roles: ['privacy_officer'] }));
    const id = await twoPieces(s.url, key, '0705556677');
    await s.running.close();
    await s.archive.close();
    const again = await reopenServer(s.dir);
    try {
      // Interposed on the real journal: the reopener's record of the continuation, written after
      // its transaction committed, waits for the officer's erasure to be answered.
      const journal = again.running.journal;
      const realAppend = journal.append.bind(journal);
      let erased: Promise<number> | null = null;
      journal.append = (rec) => {
        erased ??= send({ ...s, url: again.url }, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' }).then((r) => r.status);
        return erased.then(() => realAppend(rec));
      };
      const first = await tusPatch(again.url, key, id, 160_000, audio.subarray(160_000, 200_000));
      assert.equal(await erased, 200);
      const second = await tusPatch(again.url, key, id, 160_000, audio.subarray(160_000, 200_000));
      assert.deepEqual([first.status, second.status], [404, 404], 'no byte is taken after the erasure');
      assert.equal(again.running.uploads.active, 0, 'nothing of the erased call (its file key) stays in memory');
      assert.equal(await again.archive.db.selectFrom('uploads').select('id').where('id', '=', id).executeTakeFirst(), undefined);
    } finally {
      await again.close();
      await releaseTestArchive(s.dir);
      await rm(root, { recursive: true, force: true });
    }
  });

  it('with the store away: the erasure of a call going on here is answered at once, the call ends, the server still stops, and the objects go at the next start', async () => {
    useTestS3Credentials();
    const s3 = await startTestS3();
    const root = await tempRoot('cv-erasure-s3-');
    const dir = join(root, 'data');
    const where = { ...(await catalogFor(dir)), blobUrl: testBucketUrl(s3, 'a') };
    await initArchive(dir, where);
    let node = await serve(dir, where);
    try {
      const key = await ingestKey(node.s);
      const c: SessionCreds = await signIn(node.s, await enrollPerson(node.s, 'dpo', { roles: ['privacy_officer'] }));
      const id = await twoPieces(node.s.url, key, '0706667788');
      await node.close();
      node = await serve(dir, where);
      assert.equal((await tusPatch(node.s.url, key, id, 160_000, audio.subarray(160_000, 200_000))).status, 204, 'the call goes on here');
      await s3.stop();
      const t0 = Date.now();
      const res = await send(node.s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
      const took = Date.now() - t0;
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { audioDeleted: boolean }).audioDeleted, false);
      assert.ok(took < 8_000, `answered in ${took} ms`);
      assert.equal((await tusPatch(node.s.url, key, id, 200_000, audio.subarray(200_000, 240_000))).status, 404, 'the call is over');
      assert.equal(node.running.uploads.active, 0);
      const queued = await node.archive.db.selectFrom('pending_deletions').select('blob_key').where('recording_id', '=', id).execute();
      assert.equal(queued.length, 2, 'the filed object and the continuation\'s temporary are queued');
      void node.running.purge.run(); // what the background run does every minute
      await sleep(300);
      const t1 = Date.now();
      await node.close();
      assert.ok(Date.now() - t1 < 30_000, `the server stopped in ${Date.now() - t1} ms`);
      await s3.start();
      node = await serve(dir, where);
      await node.running.purge.idle();
      assert.equal(await node.running.purge.pending(), 0, 'the next start deleted what was queued');
    } finally {
      await s3.start().catch(() => undefined);
      await node.close().catch(() => undefined);
      await releaseTestArchive(dir);
      await rm(root, { recursive: true, force: true });
      await s3.close();
    }
  });
});

if (TEST_CATALOG === 'sqlite') {
  describe('the embedded catalog after an erasure', () => {
    it('a reader holding the catalog (a backup, a verification) does not stop the server: the checkpoint waits for a later run', async () => {
      const s = await startTestServer();
      const reader = new SqliteDatabase(join(s.dir, 'catalog.sqlite'), { readonly: true });
      try {
        const key = await ingestKey(s);
        const c = await signIn(s, await enrollPerson(s, 'dpo', { roles: ['privacy_officer'] }));
        const id = recordingIdOf(await tusUpload(s.url, key, audio.subarray(0, 16_000), { ...RAW, caller: '0701112233' }));
        const { header } = await s.archive.db.selectFrom('recordings').select('header').where('id', '=', id).executeTakeFirstOrThrow();
        reader.exec('BEGIN');
        reader.prepare('SELECT count(*) FROM recordings').get();
        const stalls = watchEventLoop();
        let worst: number;
        try {
          assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' })).status, 200);
          await s.running.purge.idle();
          await s.running.purge.run();
        } finally {
          worst = stalls();
        }
        assert.ok(worst < 1_000, `the event loop stalled ${worst} ms`);
        reader.exec('ROLLBACK');
        await s.running.purge.run(); // the reader is gone: the checkpoint due runs now
        const { readFile, readdir } = await import('node:fs/promises');
        for (const name of (await readdir(s.dir)).filter((n) => n.startsWith('catalog.sqlite'))) {
          assert.ok(!(await readFile(join(s.dir, name))).includes(Buffer.from(header)), `the header is gone from ${name}`);
        }
      } finally {
        reader.close();
        await s.close();
      }
    });
  });
}

if (TEST_CATALOG === 'postgres') {
  describe('two nodes', () => {
    it('an erasure through one node ends the call going on at the other', async () => {
      useTestS3Credentials();
      const s3 = await startTestS3();
      const root = await tempRoot('cv-erasure-nodes-');
      const databaseUrl = await createTestDatabase();
      const where = { databaseUrl, blobUrl: testBucketUrl(s3, 'n') };
      await initArchive(join(root, 'origin'), where);
      const nodes: Node[] = [];
      const node = async (name: string) => {
        const dir = join(root, name);
        await cp(join(root, 'origin'), dir, { recursive: true, force: false, errorOnExist: false });
        const n = await serve(dir, where, { 'node-id': name }, { CALLVAULT_NODE_LEASE_SECONDS: '2' });
        nodes.push(n);
        return n;
      };
      try {
        const a = await node('node-a');
        let b = await node('node-b');
        const key = await ingestKey(a.s);
        const c = await signIn(a.s, await enrollPerson(a.s, 'dpo', { roles: ['privacy_officer'] }));
        const id = await twoPieces(b.s.url, key, '0705556677');
        await b.close();
        b = await node('node-b');
        let resumed: Response | undefined;
        for (let t = 0; t < 100; t++) {
          resumed = await tusPatch(b.s.url, key, id, 160_000, audio.subarray(160_000, 200_000));
          if (resumed.status !== 423) break;
          await sleep(100);
        }
        assert.equal(resumed!.status, 204, 'the call goes on at B');
        assert.equal((await send(a.s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' })).status, 200);
        assert.equal((await tusPatch(b.s.url, key, id, 200_000, audio.subarray(200_000, 240_000))).status, 404, 'B takes no byte more');
        assert.equal(b.running.uploads.active, 0, 'nothing of the call stays in B\'s memory');
        assert.deepEqual(await a.archive.db.selectFrom('ingest_journal').select('seq').where('upload_id', '=', id).execute(), []);
      } finally {
        for (const n of nodes.reverse()) await n.close().catch(() => undefined);
        await dropTestDatabase(databaseUrl);
        await rm(root, { recursive: true, force: true });
        await s3.close();
      }
    });
  });
}
