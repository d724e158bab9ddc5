// The contract every BlobStore adapter passes. An adapter's test file calls
// blobStoreContract() with a factory; the same assertions run against every backend.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { BlobNotFoundError, type BlobStore } from './blob-store.ts';

export interface ContractTarget {
  /** A store on a fresh, empty location. */
  fresh(): Promise<BlobStore>;
  /** A second store on the same location as `store` (a restart of the process). */
  reopen(store: BlobStore): Promise<BlobStore>;
  cleanup(): Promise<void>;
}

async function put(store: BlobStore, data: Buffer, pieces = 3): Promise<string> {
  const w = await store.create();
  const step = Math.ceil(data.length / pieces) || 1;
  for (let i = 0; i < data.length; i += step) await w.write(data.subarray(i, i + step));
  await w.commit();
  return w.key;
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

export function blobStoreContract(name: string, target: ContractTarget): void {
  describe(`BlobStore contract: ${name}`, () => {
    after(() => target.cleanup());

    it('round-trips bytes under a random 128-bit key', async () => {
      const store = await target.fresh();
      const data = randomBytes(300_001);
      const key = await put(store, data);
      assert.match(key, /^[0-9a-f]{32}$/);
      assert.equal(await store.size(key), data.length);
      assert.deepEqual(await store.read(key, 0, data.length), data);
      assert.deepEqual(await store.read(key, 12_345, 777), data.subarray(12_345, 12_345 + 777));
      const keys = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const w = await store.create();
        keys.add(w.key);
        await w.abort();
      }
      assert.equal(keys.size, 20);
    });

    it('hides an object until it is committed, and forever after abort', async () => {
      const store = await target.fresh();
      const w = await store.create();
      await w.write(randomBytes(1000));
      await w.flush();
      await assert.rejects(store.size(w.key), BlobNotFoundError);
      await assert.rejects(store.read(w.key, 0, 10), BlobNotFoundError);
      assert.equal(w.size, 1000);
      await w.abort();
      await w.abort();
      await assert.rejects(store.size(w.key), BlobNotFoundError);
      await assert.rejects(w.write(Buffer.from('x')));
      const listed: string[] = [];
      for await (const k of store.list()) listed.push(k);
      assert.ok(!listed.includes(w.key));
    });

    it('refuses reads past the end, of missing objects and of malformed keys', async () => {
      const store = await target.fresh();
      const key = await put(store, randomBytes(100));
      await assert.rejects(store.read(key, 50, 51));
      await assert.rejects(store.read('0'.repeat(32), 0, 1), BlobNotFoundError);
      for (const bad of ['../../etc/passwd', `${key}/..`, key.toUpperCase(), '', `${key}0`]) {
        await assert.rejects(store.read(bad, 0, 1), BlobNotFoundError, bad);
        await assert.rejects(store.size(bad), BlobNotFoundError, bad);
      }
    });

    it('streams whole objects and ranges', async () => {
      const store = await target.fresh();
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const key = await put(store, data, 7);
      assert.deepEqual(await collect(store.stream(key)), data);
      assert.deepEqual(await collect(store.stream(key, 1_000_000, 2_500_001)), data.subarray(1_000_000, 2_500_001));
      assert.deepEqual(await collect(store.stream(key, 10, 10)), Buffer.alloc(0));
    });

    it('deletes, and deleting twice is fine', async () => {
      const store = await target.fresh();
      const key = await put(store, randomBytes(10));
      await store.delete(key);
      await store.delete(key);
      await assert.rejects(store.size(key), BlobNotFoundError);
    });

    it('lists committed objects only', async () => {
      const store = await target.fresh();
      const a = await put(store, randomBytes(5));
      const b = await put(store, randomBytes(6));
      const pending = await store.create();
      const listed: string[] = [];
      for await (const k of store.list()) listed.push(k);
      assert.deepEqual(listed.sort(), [a, b].sort());
      await pending.abort();
    });

    it('cleans temporaries a crashed writer left, without touching committed objects', async () => {
      const store = await target.fresh();
      const kept = await put(store, randomBytes(64));
      const crashed = await store.create();
      await crashed.write(randomBytes(4096));
      await crashed.flush();
      // The process "dies" here: the writer is never committed nor aborted.
      const restarted = await target.reopen(store);
      assert.ok((await restarted.cleanOrphans()) >= 1);
      assert.equal(await restarted.cleanOrphans(), 0);
      await assert.rejects(restarted.size(crashed.key), BlobNotFoundError);
      assert.equal(await restarted.size(kept), 64);
    });

    it('discards one temporary by key, from another process, leaving the rest; a missing one is fine', async () => {
      const store = await target.fresh();
      const dropped = await store.create();
      await dropped.write(randomBytes(4096));
      await dropped.flush();
      const other = await store.create();
      await other.write(randomBytes(100));
      await other.flush();
      const restarted = await target.reopen(store);
      await restarted.discard(dropped.key);
      await restarted.discard(dropped.key);
      await restarted.discard('f'.repeat(32));
      assert.equal(await restarted.cleanOrphans(new Set([other.key])), 0, 'nothing of the discarded one is left');
      assert.equal((await restarted.reopen(other.key, 100)).size, 100, 'the other temporary is untouched');
      await assert.rejects(restarted.discard('../x'), BlobNotFoundError);
    });

    it('keeps overlapping writes and multi-part writes in call order', async () => {
      const store = await target.fresh();
      const parts = Array.from({ length: 40 }, () => randomBytes(1 + Math.floor(Math.random() * 100_000)));
      const w = await store.create();
      const writes: Promise<void>[] = [];
      for (let i = 0; i < parts.length; i += 4) writes.push(w.write(parts.slice(i, i + 4)));
      await Promise.all(writes);
      await w.commit();
      const all = Buffer.concat(parts);
      assert.equal(w.size, all.length);
      assert.deepEqual(await store.read(w.key, 0, all.length), all);
    });

    it('reopens an uncommitted object after a restart, cut to its durable size, and keeps it through cleanOrphans', async () => {
      const store = await target.fresh();
      const w = await store.create();
      const data = randomBytes(50_000);
      await w.write(data);
      await w.flush();
      const restarted = await target.reopen(store);
      assert.equal(await restarted.cleanOrphans(new Set([w.key])), 0);
      const again = await restarted.reopen(w.key, 30_000);
      assert.equal(again.key, w.key);
      assert.equal(again.size, 30_000);
      const more = randomBytes(1234);
      await again.write(more);
      await again.commit();
      assert.deepEqual(await restarted.read(w.key, 0, 31_234), Buffer.concat([data.subarray(0, 30_000), more]));
      await assert.rejects(restarted.reopen(w.key, 10), 'a committed object is not reopened');
      await assert.rejects(restarted.reopen('f'.repeat(32), 0), BlobNotFoundError);
      const short = await restarted.create();
      await short.write(randomBytes(10));
      await assert.rejects((await target.reopen(restarted)).reopen(short.key, 11), 'cannot claim more than was written');
      await short.abort();
    });

    it('creates an object under a given key (a copy from another store), replacing an unfinished one', async () => {
      const store = await target.fresh();
      const key = randomBytes(16).toString('hex');
      const unfinished = await store.create(key);
      assert.equal(unfinished.key, key);
      await unfinished.write(randomBytes(777));
      await unfinished.flush();
      const data = randomBytes(70_000);
      const w = await store.create(key);
      assert.equal(w.key, key);
      await w.write(data);
      await w.commit();
      assert.deepEqual(await store.read(key, 0, data.length), data);
      const again = await store.create(key);
      await again.write(data.subarray(0, 10));
      await again.commit();
      assert.equal(await store.size(key), 10);
      for (const bad of ['../../etc/passwd', key.toUpperCase(), '']) await assert.rejects(store.create(bad), BlobNotFoundError, bad);
    });

    it('stores an empty object', async () => {
      const store = await target.fresh();
      const w = await store.create();
      await w.commit();
      assert.equal(await store.size(w.key), 0);
      await assert.rejects(w.commit());
    });
  });
}
