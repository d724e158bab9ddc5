// S3-compatible blob store (AWS S3, MinIO, Ceph RGW) over the AWS SDK v3.
// Layout under an optional prefix: committed objects at PREFIX/blobs/KEY, objects in progress
// as segments under PREFIX/tmp/KEY/ (see s3-writer.ts). Only PREFIX/blobs/ is ever listed.
// Invariants:
//  - every name is random hex (the key) or a hex offset: it says nothing about a call;
//  - malformed keys are refused before any request is made;
//  - reads are ranged GETs; a missing object is BlobNotFoundError;
//  - no ACL is ever sent: access is the bucket's (keep Block Public Access on).
import { randomBytes } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { assertBlobKey, BlobNotFoundError, BLOB_KEY, type BlobStore } from './blob-store.ts';
import { isNotFound, openS3Client, type S3ClientOptions } from './s3-client.ts';
import { statusOf, withRetry } from './s3-retry.ts';
import { blobName, deleteSegments, listNames, listSegments, putSegment, S3BlobWriter, tmpFolder, type S3Context } from './s3-writer.ts';

export interface S3BlobStoreOptions extends S3ClientOptions {
  /** Bytes per segment and multipart part (default 8 MiB). Below 5 MiB only for servers that allow it (tests). */
  partSize?: number;
  /** Bytes a writer holds before write() waits for the store (default 3 parts). */
  maxBuffered?: number;
  /** How long a writer rides out an unreachable store before it rejects (default 15 minutes). */
  outageMs?: number;
  /** How long a read, list or delete retries before it fails (default 10 s). */
  readRetryMs?: number;
  /** First backoff after a failure (ms, default 100), doubled up to maxDelayMs (default 5 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export async function createS3BlobStore(opts: S3BlobStoreOptions): Promise<BlobStore> {
  const partSize = opts.partSize ?? 8 * 1024 * 1024;
  if (!Number.isSafeInteger(partSize) || partSize < 1) throw new Error('the part size must be a positive number of bytes');
  const backoff = { baseDelayMs: opts.baseDelayMs ?? 100, maxDelayMs: opts.maxDelayMs ?? 5_000 };
  const reads = { deadlineMs: opts.readRetryMs ?? 10_000, ...backoff };
  const client = await openS3Client(opts, reads);
  const c: S3Context = {
    client, bucket: opts.bucket, prefix: opts.prefix, partSize,
    maxBuffered: opts.maxBuffered ?? 3 * partSize,
    writes: { deadlineMs: opts.outageMs ?? 15 * 60_000, ...backoff },
    reads,
  };

  /** One ranged GET of [start, end), retried while the store is briefly away. */
  async function getRange(key: string, start: number, end: number): Promise<Buffer> {
    assertBlobKey(key);
    try {
      const r = await withRetry('a read', c.reads, async () => {
        const res = await client.send(new GetObjectCommand({ Bucket: c.bucket, Key: blobName(c, key), Range: `bytes=${start}-${end - 1}` }));
        return Buffer.from(await res.Body!.transformToByteArray());
      });
      return r;
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError();
      if (statusOf(err) === 416) return Buffer.alloc(0); // the range begins past the end
      throw err;
    }
  }

  async function size(key: string): Promise<number> {
    assertBlobKey(key);
    try {
      const h = await withRetry('a size', c.reads, () => client.send(new HeadObjectCommand({ Bucket: c.bucket, Key: blobName(c, key) })));
      return h.ContentLength ?? 0;
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError();
      throw err;
    }
  }

  return {
    async create(key) {
      if (key === undefined) return new S3BlobWriter(c, randomBytes(16).toString('hex'));
      // A copy under a given key replaces what an interrupted copy of it left.
      assertBlobKey(key);
      await deleteSegments(c, key);
      return new S3BlobWriter(c, key);
    },

    async reopen(key, want) {
      assertBlobKey(key);
      if (!Number.isSafeInteger(want) || want < 0) throw new Error('a durable size is a whole number of bytes');
      const committed = await size(key).then(() => true, (err: unknown) => {
        if (err instanceof BlobNotFoundError) return false;
        throw err;
      });
      if (committed) throw new Error('this object is already committed; it is not reopened');
      const segs = await listSegments(c, key);
      if (segs.length === 0) throw new BlobNotFoundError();
      // What is durable: the segments contiguous from offset 0.
      let durable = 0;
      const chain = [];
      for (const s of segs) {
        if (s.offset !== durable) break;
        chain.push(s);
        durable += s.size;
      }
      if (durable < want) throw new Error(`the store holds ${durable} bytes of this object, fewer than the ${want} known durable`);
      // Full segments wholly before the cut stay; the segment holding the cut comes back into memory.
      const keep = [];
      let start = 0;
      for (const s of chain) {
        if (s.offset + s.size > want || s.size < partSize) break;
        keep.push(s);
        start += s.size;
      }
      const held = chain.find((s) => s.offset === start);
      const tail = held && want > start ? await (async () => {
        const res = await withRetry('a read', c.reads, async () => {
          const r = await client.send(new GetObjectCommand({ Bucket: c.bucket, Key: `${tmpFolder(c, key)}${start.toString(16).padStart(16, '0')}`, Range: `bytes=0-${want - start - 1}` }));
          return Buffer.from(await r.Body!.transformToByteArray());
        });
        if (res.length !== want - start) throw new Error('a segment changed while it was read back');
        return res;
      })() : Buffer.alloc(0);
      // The store is made to hold exactly `want` bytes before anything goes on: the cut segment is
      // rewritten first, then later segments go (a crash in between leaves a gap, so no stale byte
      // past the cut is ever taken as durable).
      if (held && tail.length < held.size) await putSegment(c, key, start, tail);
      const later = segs.filter((s) => s.offset > start);
      if (later.length > 0) {
        await Promise.all(later.map((s) => withRetry('a delete', c.writes, () => client.send(new DeleteObjectCommand({
          Bucket: c.bucket, Key: `${tmpFolder(c, key)}${s.offset.toString(16).padStart(16, '0')}`,
        })))));
      }
      const w = new S3BlobWriter(c, key);
      w.resume(keep, start, tail);
      return w;
    },

    async read(key, offset, length) {
      if (length === 0) {
        await size(key);
        return Buffer.alloc(0);
      }
      const buf = await getRange(key, offset, offset + length);
      if (buf.length !== length) throw new Error(`short read: wanted ${length} bytes at ${offset}, got ${buf.length}`);
      return buf;
    },

    size,

    async *stream(key, start = 0, end) {
      const stop = end ?? (await size(key));
      if (end !== undefined && start >= stop) await size(key); // a missing object is still an error
      const step = 4 * 1024 * 1024;
      for (let pos = start; pos < stop; pos += step) {
        const buf = await getRange(key, pos, Math.min(stop, pos + step));
        if (buf.length === 0) throw new Error('blob ended early');
        yield buf;
        if (buf.length < Math.min(step, stop - pos)) throw new Error('blob ended early');
      }
    },

    async delete(key) {
      assertBlobKey(key);
      // A delete waits out a short outage only: its callers queue what fails and try again later
      // (jobs/purge.ts), rather than hold an erasure, a shutdown or a filing for the write deadline.
      await withRetry('a delete', c.reads, () => client.send(new DeleteObjectCommand({ Bucket: c.bucket, Key: blobName(c, key) })));
    },

    async *list() {
      const folder = blobName(c, '');
      for await (const o of listNames(c, folder)) {
        const key = o.name.slice(folder.length);
        if (BLOB_KEY.test(key)) yield key;
      }
    },

    async discard(key) {
      assertBlobKey(key);
      await deleteSegments(c, key);
    },

    async cleanOrphans(keep = new Set<string>()) {
      const folder = tmpFolder(c);
      const orphans = new Set<string>();
      for await (const o of listNames(c, folder)) {
        const key = o.name.slice(folder.length).split('/')[0]!;
        if (BLOB_KEY.test(key) && !keep.has(key)) orphans.add(key);
      }
      for (const key of orphans) await deleteSegments(c, key);
      return orphans.size;
    },

    async close() {
      client.destroy();
    },
  };
}
