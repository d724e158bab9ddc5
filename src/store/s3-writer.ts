// The writer of the S3 blob store: ciphertext goes up in segments while it is written.
// Layout of one object in progress (KEY 32 hex, OFFSET 16 hex, both saying nothing):
//   PREFIX/tmp/KEY/OFFSET   a segment: the bytes from OFFSET on, a plain object
// Invariants:
//  - segments at increasing offsets are contiguous from 0; every one but the last is a full part
//    (at least the part size, so at least S3's 5 MiB multipart minimum);
//  - the last segment is rewritten under the same name until it is full (a PUT replaces an
//    object atomically), and two uploads of the same name never run at once, so a shorter,
//    older body can never land after a longer one;
//  - flush() returns once every byte written is in a segment; nothing under PREFIX/blobs/
//    exists until commit(), which assembles the segments server-side (UploadPartCopy) into
//    PREFIX/blobs/KEY, or PUTs a small object at once, then removes the segments;
//  - while the store is unreachable, uploads are retried with backoff and write() waits once
//    `maxBuffered` bytes are outstanding, so the caller does not acknowledge; only after the
//    outage deadline does anything reject, and then every later call rejects too;
//  - no ACL is ever set: objects stay as private as the bucket.
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, AbortMultipartUploadCommand, DeleteObjectCommand, ListObjectsV2Command,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import type { BlobWriter } from './blob-store.ts';
import { withRetry, type RetryPolicy } from './s3-retry.ts';

export interface S3Context {
  client: S3Client;
  bucket: string;
  prefix: string;
  partSize: number;
  maxBuffered: number;
  /** For writes: the outage a writer rides out before it rejects. */
  writes: RetryPolicy;
  /** For reads, lists and deletes: short, so a reader is answered soon. */
  reads: RetryPolicy;
}

export interface Segment {
  offset: number;
  size: number;
}

export const blobName = (c: S3Context, key: string) => `${c.prefix}blobs/${key}`;
export const tmpFolder = (c: S3Context, key?: string) => `${c.prefix}tmp/${key === undefined ? '' : `${key}/`}`;
const segmentName = (c: S3Context, key: string, offset: number) => `${tmpFolder(c, key)}${offset.toString(16).padStart(16, '0')}`;

/** Every object name under `prefix`, page by page. */
export async function* listNames(c: Pick<S3Context, 'client' | 'bucket' | 'reads'>, prefix: string): AsyncGenerator<{ name: string; size: number; modified: number }> {
  let token: string | undefined;
  do {
    const page = await withRetry('a listing', c.reads, () => c.client.send(new ListObjectsV2Command({ Bucket: c.bucket, Prefix: prefix, ContinuationToken: token })));
    for (const o of page.Contents ?? []) if (o.Key) yield { name: o.Key, size: o.Size ?? 0, modified: o.LastModified?.getTime() ?? 0 };
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** The segments of `key` in offset order (names that are not segments are left out). */
export async function listSegments(c: S3Context, key: string): Promise<Segment[]> {
  const folder = tmpFolder(c, key);
  const out: Segment[] = [];
  for await (const o of listNames(c, folder)) {
    const rest = o.name.slice(folder.length);
    if (/^[0-9a-f]{16}$/.test(rest)) out.push({ offset: parseInt(rest, 16), size: o.size });
  }
  return out.sort((a, b) => a.offset - b.offset);
}

export async function deleteSegments(c: S3Context, key: string): Promise<void> {
  const folder = tmpFolder(c, key);
  const names: string[] = [];
  for await (const o of listNames(c, folder)) names.push(o.name);
  // As a committed object's delete: a short outage is waited out, a longer one fails to the caller.
  await Promise.all(names.map((n) => withRetry('a delete', c.reads, () => c.client.send(new DeleteObjectCommand({ Bucket: c.bucket, Key: n })))));
}

export function putSegment(c: S3Context, key: string, offset: number, body: Buffer): Promise<unknown> {
  return withRetry('a segment', c.writes, () => c.client.send(new PutObjectCommand({
    Bucket: c.bucket, Key: segmentName(c, key, offset), Body: body, ContentLength: body.length, ContentType: 'application/octet-stream',
  })));
}

export class S3BlobWriter implements BlobWriter {
  readonly key: string;
  size = 0;
  #c: S3Context;
  /** Full segments already up (or going up), in order. */
  #full: Segment[] = [];
  /** Bytes from #start on, not yet in a full segment. */
  #buf: Buffer[] = [];
  #bufLen = 0;
  #start = 0;
  /** Bytes held by uploads still in flight. */
  #inFlight = 0;
  #uploads = new Set<Promise<void>>();
  /** The last upload of each segment name, so uploads of one name run one after another. */
  #lastOf = new Map<number, Promise<unknown>>();
  #waiters: (() => void)[] = [];
  #failure: Error | null = null;
  #flushedAt = -1;
  #state: 'open' | 'committing' | 'done' = 'open';

  constructor(c: S3Context, key: string) {
    this.#c = c;
    this.key = key;
  }

  /** Continues an object from its segments, cut to `size` (see S3BlobStore.reopen). */
  resume(full: Segment[], start: number, tail: Buffer): void {
    this.#full = full;
    this.#start = start;
    this.#buf = tail.length > 0 ? [tail] : [];
    this.#bufLen = tail.length;
    this.size = start + tail.length;
    this.#flushedAt = this.size;
  }

  #check(): void {
    if (this.#state !== 'open') throw new Error('blob writer is closed');
    if (this.#failure) throw this.#failure;
  }

  async write(data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    this.#check();
    // The place in the object is taken here, synchronously, so overlapping calls stay in order.
    for (const p of data instanceof Uint8Array ? [data] : data) {
      if (p.length === 0) continue;
      this.#buf.push(Buffer.from(p)); // a copy: the caller may reuse its buffer
      this.#bufLen += p.length;
      this.size += p.length;
    }
    while (this.#bufLen >= this.#c.partSize) this.#cutPart();
    // Backpressure: while the store is slow or away, the caller waits instead of piling up memory.
    while (this.#bufLen + this.#inFlight > this.#c.maxBuffered && this.#uploads.size > 0 && !this.#failure) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    if (this.#failure) throw this.#failure;
  }

  #cutPart(): void {
    const all = Buffer.concat(this.#buf, this.#bufLen);
    const part = all.subarray(0, this.#c.partSize);
    const rest = all.subarray(this.#c.partSize);
    this.#buf = rest.length > 0 ? [rest] : [];
    this.#bufLen = rest.length;
    const seg = { offset: this.#start, size: part.length };
    this.#full.push(seg);
    this.#start += part.length;
    this.#background(seg.offset, part);
  }

  #upload(offset: number, body: Buffer): Promise<void> {
    const before = this.#lastOf.get(offset) ?? Promise.resolve();
    const p = before.catch(() => undefined).then(() => putSegment(this.#c, this.key, offset, body)).then(() => undefined);
    this.#lastOf.set(offset, p);
    void p.catch(() => undefined).then(() => { if (this.#lastOf.get(offset) === p) this.#lastOf.delete(offset); });
    return p;
  }

  #background(offset: number, body: Buffer): void {
    this.#inFlight += body.length;
    const p: Promise<void> = this.#upload(offset, body).catch((err: Error) => {
      this.#failure ??= err;
    }).finally(() => {
      this.#inFlight -= body.length;
      this.#uploads.delete(p);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.#uploads.add(p);
  }

  async #settle(): Promise<void> {
    while (this.#uploads.size > 0) await Promise.all(this.#uploads);
    if (this.#failure) throw this.#failure;
  }

  async flush(): Promise<void> {
    this.#check();
    await this.#settle();
    if (this.#flushedAt === this.size) return;
    const size = this.size;
    // The tail goes up as the last segment (even empty, so that a flushed object is always found).
    if (this.#bufLen > 0 || this.#full.length === 0) await this.#upload(this.#start, Buffer.concat(this.#buf, this.#bufLen));
    await this.#settle(); // parts cut by writes made meanwhile
    this.#flushedAt = Math.max(this.#flushedAt, size);
  }

  async commit(): Promise<void> {
    this.#check();
    this.#state = 'committing';
    try {
      await this.#settle();
      const tail = Buffer.concat(this.#buf, this.#bufLen);
      if (this.#full.length === 0) {
        await withRetry('an object', this.#c.writes, () => this.#c.client.send(new PutObjectCommand({
          Bucket: this.#c.bucket, Key: blobName(this.#c, this.key), Body: tail, ContentLength: tail.length, ContentType: 'application/octet-stream',
        })));
      } else {
        await this.#assemble(tail);
      }
    } catch (err) {
      this.#state = 'open'; // nothing is lost: commit may be tried again
      throw err;
    }
    this.#state = 'done';
    await deleteSegments(this.#c, this.key);
  }

  /** The full segments copied server-side as parts, the tail uploaded as the last part. */
  async #assemble(tail: Buffer): Promise<void> {
    const c = this.#c;
    const Key = blobName(c, this.key);
    const { UploadId } = await withRetry('a multipart upload', c.writes, () => c.client.send(new CreateMultipartUploadCommand({ Bucket: c.bucket, Key, ContentType: 'application/octet-stream' })));
    try {
      const parts = await Promise.all(this.#full.map(async (s, i) => {
        const r = await withRetry('a part', c.writes, () => c.client.send(new UploadPartCopyCommand({
          Bucket: c.bucket, Key, UploadId, PartNumber: i + 1, CopySource: `${c.bucket}/${segmentName(c, this.key, s.offset)}`,
        })));
        return { PartNumber: i + 1, ETag: r.CopyPartResult?.ETag };
      }));
      if (tail.length > 0) {
        const PartNumber = parts.length + 1;
        const r = await withRetry('a part', c.writes, () => c.client.send(new UploadPartCommand({ Bucket: c.bucket, Key, UploadId, PartNumber, Body: tail, ContentLength: tail.length })));
        parts.push({ PartNumber, ETag: r.ETag });
      }
      await withRetry('the completion of an object', c.writes, () => c.client.send(new CompleteMultipartUploadCommand({ Bucket: c.bucket, Key, UploadId, MultipartUpload: { Parts: parts } })));
    } catch (err) {
      // Best effort: a server without AbortMultipartUpload leaves it to the bucket's lifecycle rule.
      await c.client.send(new AbortMultipartUploadCommand({ Bucket: c.bucket, Key, UploadId })).catch(() => undefined);
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.#state === 'done' && this.#buf.length === 0 && this.#full.length === 0) return;
    this.#state = 'done';
    await Promise.allSettled([...this.#uploads]);
    this.#buf = [];
    this.#bufLen = 0;
    this.#full = [];
    await deleteSegments(this.#c, this.key);
  }
}
