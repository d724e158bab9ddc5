// Local-directory blob store, the embedded default.
// Layout: ROOT/ab/cd/abcd....  (two levels of fan-out), temporaries in ROOT/.tmp.
// Invariants:
//  - an object appears under its key only complete: written to .tmp, fsync'd, renamed, dir fsync'd;
//  - names are random and say nothing; no directory of it is ever served over HTTP.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir, fsyncNames } from '../lib/fsync-dir.ts';
import { assertBlobKey, BlobNotFoundError, type BlobStore, type BlobWriter } from './blob-store.ts';

const TMP = '.tmp';

function pathOf(root: string, key: string): { dir: string; file: string } {
  const dir = join(root, key.slice(0, 2), key.slice(2, 4));
  return { dir, file: join(dir, key) };
}

function notFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

class FsBlobWriter implements BlobWriter {
  readonly key: string = randomBytes(16).toString('hex');
  size = 0;
  #fh: FileHandle | null = null;
  #tmp: string;
  #root: string;
  #done = false;
  #named = false;

  constructor(root: string, key?: string) {
    if (key !== undefined) this.key = key;
    this.#root = root;
    this.#tmp = join(root, TMP, `${this.key}.partial`);
  }

  /** A random key's temporary must be new; a given key's (a copy) replaces any left by an interrupted copy. */
  async openFile(replace: boolean): Promise<void> {
    this.#fh = await open(this.#tmp, replace ? 'w' : 'wx', 0o600);
  }

  async reopenFile(size: number): Promise<void> {
    try {
      this.#fh = await open(this.#tmp, 'r+');
    } catch (err) {
      if (notFound(err)) throw new BlobNotFoundError();
      throw err;
    }
    const actual = (await this.#fh.stat()).size;
    if (actual < size) {
      await this.#fh.close();
      throw new Error(`temporary object holds ${actual} bytes, fewer than the ${size} known durable`);
    }
    await this.#fh.truncate(size);
    this.size = size;
    this.#named = true;
  }

  async write(data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    if (!this.#fh || this.#done) throw new Error('blob writer is closed');
    const parts = data instanceof Uint8Array ? [data] : data;
    let length = 0;
    for (const p of parts) length += p.length;
    // Positional writes: the place is reserved now, so overlapping calls stay in order.
    let position = this.size;
    this.size += length;
    const fh = this.#fh;
    let pending = parts.filter((p) => p.length > 0);
    while (pending.length > 0) {
      const { bytesWritten } = await fh.writev(pending, position);
      position += bytesWritten;
      let skip = bytesWritten;
      while (pending.length > 0 && skip >= pending[0]!.length) skip -= pending.shift()!.length;
      if (skip > 0) pending = [pending[0]!.subarray(skip), ...pending.slice(1)];
    }
  }

  async flush(): Promise<void> {
    if (!this.#fh || this.#done) throw new Error('blob writer is closed');
    await this.#fh.datasync();
    // What is flushed must be found again after a crash: the first flush makes the name durable too.
    if (!this.#named) {
      await fsyncDir(join(this.#root, TMP));
      this.#named = true;
    }
  }

  async commit(): Promise<void> {
    if (!this.#fh || this.#done) throw new Error('blob writer is closed');
    this.#done = true;
    await this.#fh.sync();
    await this.#fh.close();
    this.#fh = null;
    const { dir, file } = pathOf(this.#root, this.key);
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    await rename(this.#tmp, file);
    // The new name, and the fan-out folders made just now (the folders that name them).
    await fsyncNames(dir, created);
  }

  async abort(): Promise<void> {
    this.#done = true;
    if (this.#fh) {
      await this.#fh.close().catch(() => undefined);
      this.#fh = null;
    }
    await rm(this.#tmp, { force: true });
  }
}

export async function createFsBlobStore(root: string): Promise<BlobStore> {
  await mkdir(join(root, TMP), { recursive: true, mode: 0o700 });

  async function openBlob(key: string): Promise<FileHandle> {
    assertBlobKey(key);
    try {
      return await open(pathOf(root, key).file, 'r');
    } catch (err) {
      if (notFound(err)) throw new BlobNotFoundError();
      throw err;
    }
  }

  async function withFile<T>(key: string, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    const fh = await openBlob(key);
    try {
      return await fn(fh);
    } finally {
      await fh.close();
    }
  }

  return {
    async create(key) {
      if (key !== undefined) assertBlobKey(key);
      const w = new FsBlobWriter(root, key);
      await w.openFile(key !== undefined);
      return w;
    },

    async reopen(key, size) {
      assertBlobKey(key);
      const w = new FsBlobWriter(root, key);
      await w.reopenFile(size);
      return w;
    },

    read(key, offset, length) {
      return withFile(key, async (fh) => {
        const buf = Buffer.allocUnsafe(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) throw new Error(`short read: wanted ${length} bytes at ${offset}, got ${got}`);
          got += bytesRead;
        }
        return buf;
      });
    },

    async size(key) {
      assertBlobKey(key);
      try {
        return (await stat(pathOf(root, key).file)).size;
      } catch (err) {
        if (notFound(err)) throw new BlobNotFoundError();
        throw err;
      }
    },

    async *stream(key, start = 0, end) {
      const fh = await openBlob(key);
      try {
        const stop = end ?? (await fh.stat()).size;
        let pos = start;
        while (pos < stop) {
          const buf = Buffer.allocUnsafe(Math.min(1 << 20, stop - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) throw new Error('blob ended early');
          pos += bytesRead;
          yield buf.subarray(0, bytesRead);
        }
      } finally {
        await fh.close();
      }
    },

    async delete(key) {
      assertBlobKey(key);
      const { dir, file } = pathOf(root, key);
      await rm(file, { force: true });
      await fsyncDir(dir).catch((err) => {
        if (!notFound(err)) throw err;
      });
    },

    async *list() {
      const hex2 = /^[0-9a-f]{2}$/;
      for (const a of (await readdir(root)).filter((n) => hex2.test(n)).sort()) {
        for (const b of (await readdir(join(root, a))).filter((n) => hex2.test(n)).sort()) {
          for (const name of (await readdir(join(root, a, b))).sort()) {
            if (name.startsWith(a + b) && /^[0-9a-f]{32}$/.test(name)) yield name;
          }
        }
      }
    },

    async discard(key) {
      assertBlobKey(key);
      await rm(join(root, TMP, `${key}.partial`), { force: true });
    },

    async cleanOrphans(keep = new Set<string>()) {
      const names = (await readdir(join(root, TMP))).filter((n) => !keep.has(n.replace(/\.partial$/, '')));
      await Promise.all(names.map((n) => rm(join(root, TMP, n), { force: true })));
      return names.length;
    },

    async close() {},
  };
}
