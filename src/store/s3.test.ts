// The S3 blob store against a real S3-compatible server on loopback (test-s3-server.ts), with
// small parts so that several segments, tails and cuts inside a segment are exercised.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { BlobStore } from './blob-store.ts';
import { blobStoreContract } from './contract.ts';
import { createS3BlobStore, type S3BlobStoreOptions } from './s3.ts';
import { openS3Client } from './s3-client.ts';
import { startTestS3, TEST_BUCKET, TEST_CREDENTIALS, type TestS3 } from './test-s3-server.ts';

const PART = 64 * 1024;
let s3: TestS3 | undefined;
const server = async () => (s3 ??= await startTestS3());
const prefixOf = new WeakMap<BlobStore, string>();

async function storeAt(prefix: string, extra: Partial<S3BlobStoreOptions> = {}): Promise<BlobStore> {
  const { endpoint } = await server();
  const store = await createS3BlobStore({
    bucket: TEST_BUCKET, prefix, endpoint, region: 'us-east-1', forcePathStyle: true, credentials: TEST_CREDENTIALS,
    partSize: PART, baseDelayMs: 20, maxDelayMs: 200, ...extra,
  });
  prefixOf.set(store, prefix);
  return store;
}

const freshPrefix = () => `t${randomBytes(4).toString('hex')}/`;

blobStoreContract('S3-compatible (s3rver on loopback)', {
  fresh: () => storeAt(freshPrefix()),
  reopen: (store) => storeAt(prefixOf.get(store)!),
  async cleanup() {
    await s3?.close();
  },
});

/** Every object name the server holds under a prefix (from its directory: the server's truth). */
async function objectNames(dir: string, prefix: string): Promise<string[]> {
  const root = join(dir, TEST_BUCKET);
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith('._S3rver_object')) out.push(relative(root, join(d, e.name.replace(/\._S3rver_object$/, ''))));
    }
  };
  await walk(join(root, prefix));
  return out;
}

describe('S3 blob store beyond the contract', () => {
  let own: TestS3;
  before(async () => { own = await startTestS3(); });
  after(() => own.close());
  const at = (prefix: string, extra: Partial<S3BlobStoreOptions> = {}) => createS3BlobStore({
    bucket: TEST_BUCKET, prefix, endpoint: own.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: TEST_CREDENTIALS,
    partSize: PART, baseDelayMs: 20, maxDelayMs: 200, ...extra,
  });

  it('rides out an outage: writes wait, nothing is lost, and the object completes once the store is back', async () => {
    const store = await at(freshPrefix(), { maxBuffered: 2 * PART });
    const w = await store.create();
    const data = randomBytes(10 * PART + 123);
    await w.write(data.subarray(0, 3 * PART));
    await w.flush();
    await own.stop();
    // While the store is away the writer takes what fits in its buffer, then makes the caller wait.
    let written = 3 * PART;
    const writes = (async () => {
      while (written < data.length) {
        const piece = data.subarray(written, Math.min(data.length, written + 7_777));
        written += piece.length;
        await w.write(piece);
      }
    })();
    const settled = await Promise.race([writes.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
    assert.equal(settled, 'waiting', 'write() waits for the store instead of buffering without bound or failing');
    assert.ok(written < data.length);
    await own.start();
    await writes;
    await w.commit();
    const back = await store.read(w.key, 0, data.length);
    assert.ok(back.equals(data), 'every byte, in order');
    await store.close();
  });

  it('gives up only after the outage deadline, and says so without secrets', async () => {
    const store = await at(freshPrefix(), { outageMs: 600, maxBuffered: PART });
    const w = await store.create();
    await own.stop();
    try {
      await assert.rejects(async () => {
        for (let i = 0; i < 4; i++) await w.write(randomBytes(PART));
        await w.flush();
      }, (e: Error) => /did not accept a segment for \d+ s/.test(e.message) && !e.message.includes(TEST_CREDENTIALS.secretAccessKey));
      await assert.rejects(w.write(Buffer.from('x')), 'a failed writer stays failed');
    } finally {
      await own.start();
    }
    await w.abort();
    await store.close();
  });

  it('another node reopens a flushed object, cut inside a segment, and completes it', async () => {
    const prefix = freshPrefix();
    const nodeA = await at(prefix);
    const w = await nodeA.create();
    const data = randomBytes(5 * PART + 999);
    await w.write(data);
    await w.flush();
    // Node A is gone without a word; node B has only the key and the size known durable.
    const nodeB = await at(prefix);
    assert.equal(await nodeB.cleanOrphans(new Set([w.key])), 0);
    const cut = 2 * PART + 4321;
    const again = await nodeB.reopen(w.key, cut);
    assert.equal(again.size, cut);
    const more = randomBytes(PART + 5);
    await again.write(more);
    await again.flush();
    // And once more, at exactly a segment boundary, on a third node.
    const nodeC = await at(prefix);
    const third = await nodeC.reopen(w.key, 3 * PART);
    await third.commit();
    const expected = Buffer.concat([data.subarray(0, cut), more]).subarray(0, 3 * PART);
    assert.ok((await nodeC.read(w.key, 0, 3 * PART)).equals(expected));
    assert.deepEqual(await objectNames(own.directory, `${prefix}tmp`).catch(() => []), [], 'no segment is left behind');
    await assert.rejects(nodeB.reopen(w.key, 1), /already committed/);
    for (const s of [nodeA, nodeB, nodeC]) await s.close();
  });

  it('names every object and temporary with random hex only', async () => {
    const prefix = freshPrefix();
    const store = await at(prefix);
    const done = await store.create();
    await done.write(randomBytes(3 * PART + 1));
    await done.commit();
    const pending = await store.create();
    await pending.write(randomBytes(2 * PART + 7));
    await pending.flush();
    const names = await objectNames(own.directory, prefix);
    assert.ok(names.length >= 3, names.join(','));
    for (const n of names) assert.match(n.slice(prefix.length), /^(blobs\/[0-9a-f]{32}|tmp\/[0-9a-f]{32}\/[0-9a-f]{16})$/, n);
    await pending.abort();
    assert.deepEqual((await objectNames(own.directory, prefix)).map((n) => n.slice(prefix.length)), [`blobs/${done.key}`]);
    await store.close();
  });

  it('a store that takes the connection and then never answers: the request fails once idle, and is retried as an outage, never waiting for ever', async () => {
    const silent = createServer(() => undefined); // accepts, reads, answers nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    try {
      const started = Date.now();
      await assert.rejects(openS3Client({ bucket: TEST_BUCKET, region: 'us-east-1', forcePathStyle: true, endpoint: `http://127.0.0.1:${port}`, credentials: TEST_CREDENTIALS, prefix: '', idleTimeoutMs: 300 },
        { deadlineMs: 1_000, baseDelayMs: 50 }), /the S3 bucket s3:\/\/.+ cannot be reached/);
      assert.ok(Date.now() - started < 10_000, `gave up in ${Date.now() - started} ms`);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  it('refuses a missing bucket and wrong credentials with a message naming neither secret nor endpoint', async () => {
    await assert.rejects(at('', { bucket: 'no-such-bucket' } as Partial<S3BlobStoreOptions>), /the S3 bucket s3:\/\/no-such-bucket\/ does not exist/);
    await assert.rejects(at('', { credentials: { accessKeyId: 'NOT-A-KEY', secretAccessKey: 'wrong-secret-xyz' } }),
      (e: Error) => /refuses these credentials/.test(e.message) && !e.message.includes('wrong-secret-xyz'));
  });
});
