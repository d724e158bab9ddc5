// Copies objects from one blob store to another through the port alone, so any pair of
// adapters works (local directory, S3).
// Invariants:
//  - an object counts as copied only once it has been read back from the target and its size
//    and SHA-256 match the source's;
//  - an object the target already holds with the source's size and SHA-256 is left alone
//    (a copy run again after an interruption); one that differs is copied again;
//  - nothing is deleted from the source; from the target, only on a run that resumes an
//    interrupted copy, the objects of it that the source no longer has (erased since, or
//    replaced), each checked gone;
//  - a few objects at a time, each streamed (never whole in memory).
import { createHash } from 'node:crypto';
import { BlobNotFoundError, type BlobStore } from './blob-store.ts';

/** A copy cannot be completed or verified; the message says what an operator can do. */
export class BlobCopyError extends Error {}

export interface BlobCopyProgress {
  objects: number;
  totalObjects: number;
  bytes: number;
  totalBytes: number;
}

export interface BlobCopyOptions {
  /** Objects copied at the same time (default 4). */
  concurrency?: number;
  onProgress?(p: BlobCopyProgress): void;
}

export interface BlobCopyReport {
  objects: number;
  bytes: number;
  /** Copied in this run (the others were already in the target, verified). */
  copied: number;
  /** Found in the target different from the source (damaged or cut short), and copied again. */
  replaced: number;
}

interface Digest {
  size: number;
  sha256: string;
}

async function digestOf(store: BlobStore, key: string): Promise<Digest> {
  const h = createHash('sha256');
  let size = 0;
  for await (const part of store.stream(key)) {
    h.update(part);
    size += part.length;
  }
  return { size, sha256: h.digest('hex') };
}

async function sizeOrNull(store: BlobStore, key: string): Promise<number | null> {
  try {
    return await store.size(key);
  } catch (e) {
    if (e instanceof BlobNotFoundError) return null;
    throw e;
  }
}

/** Streams the source object into the target under the same key, hashing as it goes. */
async function transfer(source: BlobStore, target: BlobStore, key: string): Promise<Digest> {
  const w = await target.create(key);
  try {
    if (w.key !== key) throw new BlobCopyError('the target blob store cannot write an object under a given key; it cannot receive a copy');
    const h = createHash('sha256');
    for await (const part of source.stream(key)) {
      h.update(part);
      await w.write(part);
    }
    const size = w.size;
    await w.commit();
    return { size, sha256: h.digest('hex') };
  } catch (e) {
    await w.abort();
    throw e;
  }
}

type Outcome = 'present' | 'copied' | 'replaced';

async function copyOne(source: BlobStore, target: BlobStore, key: string, size: number): Promise<Outcome> {
  let outcome: Outcome = 'copied';
  const present = await sizeOrNull(target, key);
  if (present === size) {
    const [have, want] = await Promise.all([digestOf(target, key), digestOf(source, key)]);
    if (have.size === want.size && have.sha256 === want.sha256) return 'present';
  }
  if (present !== null) outcome = 'replaced';
  const sent = await transfer(source, target, key);
  if (sent.size !== size) throw new BlobCopyError(`object ${key} changed size in the source during the copy (${size} then ${sent.size} bytes)`);
  const back = await digestOf(target, key);
  if (back.size !== sent.size || back.sha256 !== sent.sha256) {
    throw new BlobCopyError(`object ${key} reads back from the target different from the source (${back.size} of ${sent.size} bytes, SHA-256 ${back.sha256 === sent.sha256 ? 'equal' : 'differs'}); ` +
      'the target store is not keeping what it is given: check it before running migrate again');
  }
  return outcome;
}

/** The objects to copy, with their sizes in the source. */
export interface BlobPlan {
  keys: string[];
  sizes: Map<string, number>;
  totalBytes: number;
}

/**
 * Sizes every object to copy. `required` are objects the catalog refers to: one missing from
 * the source stops the migration before anything is copied (it would be lost; the source needs
 * looking at first). `listed` are whatever else the source holds.
 */
export async function planBlobCopy(source: BlobStore, required: Iterable<string>, listed: Iterable<string>, concurrency = 8): Promise<BlobPlan> {
  const need = new Set(required);
  const keys = [...new Set([...need, ...listed])].sort();
  const sizes = new Map<string, number>();
  const missing: string[] = [];
  await eachLimited(keys, concurrency, async (key) => {
    const size = await sizeOrNull(source, key);
    if (size === null) {
      if (need.has(key)) missing.push(key);
    } else {
      sizes.set(key, size);
    }
  });
  if (missing.length > 0) {
    throw new BlobCopyError(`${missing.length} object(s) the catalog refers to are missing from the source blob store (first: ${missing.sort()[0]}); ` +
      'nothing was copied: find out what happened to them before migrating');
  }
  const present = keys.filter((k) => sizes.has(k));
  return { keys: present, sizes, totalBytes: present.reduce((n, k) => n + sizes.get(k)!, 0) };
}

/**
 * The target's objects the plan does not have. A first run refuses any: the target belongs to
 * another archive (or to something else), and the archives would be mixed. A run resuming an
 * interrupted copy returns them instead: they are what it copied and the source has deleted
 * since (a recording erased, an object replaced), for removeFromTarget.
 */
export async function checkTargetStore(target: BlobStore, plan: BlobPlan, opts: { resuming?: boolean } = {}): Promise<string[]> {
  const extra: string[] = [];
  for await (const key of target.list()) {
    if (plan.sizes.has(key)) continue;
    if (!opts.resuming) throw new BlobCopyError('the target blob store holds objects this archive does not have; give migrate an empty bucket or prefix');
    extra.push(key);
  }
  return extra.sort();
}

/** Deletes `keys` from the target, then checks that each is gone. */
export async function removeFromTarget(target: BlobStore, keys: readonly string[], concurrency = 4): Promise<void> {
  await eachLimited(keys, concurrency, async (key) => {
    await target.delete(key);
    if ((await sizeOrNull(target, key)) !== null) throw new BlobCopyError(`object ${key} is still in the target blob store after it was deleted; check the store before running migrate again`);
  });
}

/** Runs `fn` over `items`, at most `limit` at a time; the first failure stops new work and is thrown. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (failed === null && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== null) throw failed;
}

/** Copies every planned object, verifying each in the target. Safe to run again after an interruption. */
export async function copyBlobs(source: BlobStore, target: BlobStore, plan: BlobPlan, opts: BlobCopyOptions = {}): Promise<BlobCopyReport> {
  const report: BlobCopyReport = { objects: 0, bytes: 0, copied: 0, replaced: 0 };
  const progress = () => opts.onProgress?.({ objects: report.objects, totalObjects: plan.keys.length, bytes: report.bytes, totalBytes: plan.totalBytes });
  progress();
  await eachLimited(plan.keys, opts.concurrency ?? 4, async (key) => {
    const size = plan.sizes.get(key)!;
    const outcome = await copyOne(source, target, key, size);
    if (outcome !== 'present') report.copied++;
    if (outcome === 'replaced') report.replaced++;
    report.objects++;
    report.bytes += size;
    progress();
  });
  return report;
}
