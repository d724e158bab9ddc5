import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { blobStoreContract } from './contract.ts';
import { createFsBlobStore } from './fs.ts';

const roots: string[] = [];
const rootOf = new WeakMap<object, string>();

blobStoreContract('local directory', {
  async fresh() {
    const root = await mkdtemp(join(tmpdir(), 'cv-blobs-'));
    roots.push(root);
    const store = await createFsBlobStore(root);
    rootOf.set(store, root);
    return store;
  },
  async reopen(store) {
    const root = rootOf.get(store)!;
    const again = await createFsBlobStore(root);
    rootOf.set(again, root);
    return again;
  },
  async cleanup() {
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  },
});

it('local directory: objects and folders are private to the owner', async () => {
  const root = await mkdtemp(join(tmpdir(), 'cv-blobs-'));
  try {
    const store = await createFsBlobStore(root);
    const w = await store.create();
    await w.write(Buffer.from('ciphertext'));
    await w.commit();
    const file = join(root, w.key.slice(0, 2), w.key.slice(2, 4), w.key);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(root, w.key.slice(0, 2)))).mode & 0o777, 0o700);
    assert.deepEqual(await readdir(join(root, '.tmp')), []);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
