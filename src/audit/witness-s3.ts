// The witness in an S3 bucket (the scale-out setup): PREFIX/checkpoint-<size, 12 digits>.txt.
// Add-only twice over:
//  - every write is conditional (If-None-Match: *): AWS S3 refuses it with 412 when the object
//    exists, and then the object there is read and compared;
//  - before writing, the object is looked for (GET): servers that ignore If-None-Match (the
//    test server, @20minutes/s3rver, does) would otherwise overwrite. Between that look and the
//    write only another node copying the same catalog checkpoint can race, with the same bytes.
// What truly stops a server with these credentials from deleting or overwriting is the bucket's:
// S3 Object Lock (compliance mode) or a policy denying it (see README). No ACL is ever sent.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { isNotFound, openS3Client, type S3ClientOptions } from '../store/s3-client.ts';
import { BlobStoreUnavailableError, describeFailure, statusOf, withRetry, type RetryPolicy } from '../store/s3-retry.ts';
import { describeLocation } from '../store/s3-url.ts';
import { listNames } from '../store/s3-writer.ts';
import { sizeOfWitnessName, witnessConflict, WitnessError, witnessFileName, type Witness } from './witness.ts';

export interface S3WitnessOptions extends S3ClientOptions {
  /** How long a request rides out an unreachable store before it fails (default 10 s); the next checkpoint round tries again. */
  retryMs?: number;
  /** First backoff after a failure (ms, default 100), doubled up to maxDelayMs (default 5 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Opens the witness once its bucket answers (else an Error naming the bucket and why). */
export async function createS3Witness(opts: S3WitnessOptions): Promise<Witness> {
  const policy: RetryPolicy = { deadlineMs: opts.retryMs ?? 10_000, baseDelayMs: opts.baseDelayMs ?? 100, maxDelayMs: opts.maxDelayMs ?? 5_000 };
  const client = await openS3Client(opts, policy);
  const where = describeLocation(opts);
  const keyOf = (name: string) => `${opts.prefix}${name}`;
  // Our retry error names the outage; anything else only by its name and status, never the SDK's text.
  const why = (err: unknown) => (err instanceof BlobStoreUnavailableError ? err.message : describeFailure(err));

  /** The object's bytes, or null if there is none. */
  async function get(key: string): Promise<Buffer | null> {
    try {
      return await withRetry('a witness read', policy, async () => {
        const res = await client.send(new GetObjectCommand({ Bucket: opts.bucket, Key: key }));
        return Buffer.from(await res.Body!.transformToByteArray());
      });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /** Writes the object unless one exists; returns null once written, or the bytes found there. */
  async function putIfAbsent(key: string, body: Buffer): Promise<Buffer | null> {
    try {
      await withRetry('a witness copy', policy, () => client.send(new PutObjectCommand({
        Bucket: opts.bucket, Key: key, Body: body, ContentLength: body.length, ContentType: 'text/plain; charset=utf-8', IfNoneMatch: '*',
      })));
      return null;
    } catch (err) {
      // 412: another node's copy (or our own attempt whose answer was lost) landed first.
      // (A 409 from concurrent conditional writes fails this round; the next one finds the object.)
      if (statusOf(err) !== 412) throw err;
      const there = await get(key);
      if (there === null) throw err;
      return there;
    }
  }

  /** The witness names under the prefix, in size order. */
  async function names(): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const o of listNames({ client, bucket: opts.bucket, reads: policy }, keyOf('checkpoint-'))) {
        const name = o.name.slice(opts.prefix.length);
        if (sizeOfWitnessName(name) !== null) out.push(name);
      }
    } catch (err) {
      throw new WitnessError(`the witness ${where} cannot be read (${why(err)})`, { cause: err });
    }
    return out.sort();
  }

  return {
    async add(size, note) {
      const key = keyOf(witnessFileName(size));
      const body = Buffer.from(note);
      let there: Buffer | null;
      try {
        there = (await get(key)) ?? (await putIfAbsent(key, body));
        // Another node may be writing the same checkpoint this moment, and a store that does not
        // write objects atomically shows it half-written: only a difference that stays is a conflict.
        for (let wait = 100; there !== null && !there.equals(body) && wait <= 400; wait *= 2) {
          await new Promise((r) => setTimeout(r, wait));
          there = await get(key);
        }
      } catch (err) {
        throw new WitnessError(`checkpoint ${size} could not be copied to the witness ${where} (${why(err)})`, { cause: err });
      }
      if (there !== null && !there.equals(body)) throw witnessConflict(where, size);
    },

    async sizes() {
      return (await names()).map((n) => sizeOfWitnessName(n)!);
    },

    async *list() {
      for (const name of await names()) {
        const note = await get(keyOf(name)).catch((err: unknown) => {
          throw new WitnessError(`the witness ${where}: ${name} cannot be read (${why(err)})`, { cause: err });
        });
        if (note === null) throw new WitnessError(`the witness ${where}: ${name} was listed but is gone`);
        yield { name, note };
      }
    },

    describe: () => where,
    async close() {
      client.destroy();
    },
  };
}
