// The old copy a move leaves in the data directory: the embedded catalog (DATA/catalog.sqlite)
// once the archive's catalog is PostgreSQL, the local blob store (DATA/blobs) once its
// recordings are in a bucket. migrate keeps it to fall back to; but it sits next to the keys,
// and its catalog holds the wrapped key of every recording it had, erased since or not: an
// erasure does not reach it. `callvault migrate --remove-old-copy` removes it, once the archive
// shows that it holds everything the old copy held:
//  - the archive's audit log verifies (every entry, every checkpoint, the witness);
//  - the old catalog's audit log is the start of the archive's, entry for entry, and every
//    recording it names is in the archive's catalog (erased or not);
//  - every object of the old blob store that a live recording refers to is in the archive's
//    store with the same size (migrate compared their SHA-256 when it copied them).
// The removal is audited before a file goes; nothing is removed when a check fails.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Actor } from '../audit/events.ts';
import { auditVerifierKey, logOrigin } from '../audit/checkpointer.ts';
import { verifyAuditLog } from '../audit/verify.ts';
import { fsyncDirSync } from '../lib/fsync-dir.ts';
import type { Witness } from '../audit/witness.ts';
import { openCatalogReader, type Catalog } from '../catalog/db.ts';
import { BlobNotFoundError, type BlobStore } from '../store/blob-store.ts';
import { createFsBlobStore } from '../store/fs.ts';
import { ArchiveError, type Archive } from './archive.ts';

const CATALOG_FILES = ['catalog.sqlite', 'catalog.sqlite-wal', 'catalog.sqlite-shm'];

export interface OldCopy {
  /** Files of the embedded catalog still in the data directory. */
  catalogFiles: string[];
  /** The local blob store's directory is still there. */
  blobs: boolean;
}

/** What of an old copy is in `dir`, for an archive whose catalog and blobs are where `a` says; null: nothing. */
export function oldCopyIn(dir: string, a: Pick<Archive, 'catalog' | 'blobs'>): OldCopy | null {
  const catalogFiles = a.catalog === 'postgres' ? CATALOG_FILES.filter((f) => existsSync(join(dir, f))) : [];
  const blobs = a.blobs === 's3' && existsSync(join(dir, 'blobs'));
  return catalogFiles.length > 0 || blobs ? { catalogFiles, blobs } : null;
}

/** For a log line or a message: which parts of the old copy are there. */
export function describeOldCopy(c: OldCopy): string {
  return [c.catalogFiles.length > 0 ? 'the embedded catalog (catalog.sqlite)' : '', c.blobs ? 'the local blob store (blobs/)' : ''].filter(Boolean).join(' and ');
}

export interface RemovedCopy {
  catalogFiles: string[];
  /** The local blob store was removed, with `objects` objects of `bytes` bytes. */
  blobs: boolean;
  objects: number;
  bytes: number;
}

/** Checks the old copy against the archive, audits the removal, then removes it; null when there is none. */
export async function removeOldCopy(a: Archive, deps: { witness: Witness; actor: Actor; progress?: (text: string) => void }): Promise<RemovedCopy | null> {
  const old = oldCopyIn(a.dir, a);
  if (!old) return null;
  const progress = deps.progress ?? (() => undefined);
  if (existsSync(join(a.dir, 'migration.json'))) {
    throw new ArchiveError('a migration of this archive is unfinished (migration.json): run it to its end first; nothing was removed');
  }
  progress('verifying the archive\'s audit log');
  const origin = logOrigin(a.keys.archiveRecipient);
  const report = await verifyAuditLog({ db: a.db, vkey: auditVerifierKey(origin, a.keys.auditSigningKey()), witness: deps.witness });
  if (report.problems.length > 0) {
    throw new ArchiveError(`the archive's audit log does not verify (${report.problems[0]}); nothing was removed: the old copy may be what is left`);
  }
  // The objects first: the archive must hold the recordings before anything else matters.
  let objects = 0;
  let bytes = 0;
  if (old.blobs) {
    progress('checking that the archive\'s store holds every object of the old one');
    ({ objects, bytes } = await checkObjectsCarried(await createFsBlobStore(join(a.dir, 'blobs')), a).catch((err: unknown) => {
      if (err instanceof ArchiveError) throw err;
      throw new ArchiveError(`the old blob store ${join(a.dir, 'blobs')} cannot be read (${(err as Error).message}); nothing was removed`, { cause: err });
    }));
  }
  if (old.catalogFiles.includes('catalog.sqlite')) {
    progress('comparing the old catalog with the archive\'s');
    const oldDb = await openCatalogReader({ file: join(a.dir, 'catalog.sqlite') }).catch((err: unknown) => {
      throw new ArchiveError(`the old catalog ${join(a.dir, 'catalog.sqlite')} cannot be read (${(err as Error).message}); nothing was removed`, { cause: err });
    });
    try {
      await checkCatalogCarried(oldDb, a.db);
    } catch (err) {
      if (err instanceof ArchiveError) throw err;
      throw new ArchiveError(`the old catalog ${join(a.dir, 'catalog.sqlite')} cannot be read (${(err as Error).message}); nothing was removed`, { cause: err });
    } finally {
      await oldDb.destroy();
    }
  }
  // Read again: opening the old catalog to check it may have made its -wal and -shm files.
  const catalogFiles = oldCopyIn(a.dir, a)?.catalogFiles ?? [];
  await a.audit.record({
    action: 'archive.old_copy_removed', actor: deps.actor, outcome: 'success',
    details: { catalogFiles, objects, bytes, auditEntries: report.entries },
  });
  progress('removing the old copy');
  try {
    for (const f of catalogFiles) rmSync(join(a.dir, f), { force: true });
    if (old.blobs) rmSync(join(a.dir, 'blobs'), { recursive: true, force: true });
    fsyncDirSync(a.dir);
  } catch (err) {
    throw new ArchiveError(`removing the old copy stopped half-way (${(err as Error).message}); the removal is in the audit log. ` +
      'What is left is still checked against the archive: make it removable, then run the same command again', { cause: err });
  }
  return { catalogFiles, blobs: old.blobs, objects, bytes };
}

const PAGE = 5_000;

/** The old catalog's audit log is the start of the new one, entry for entry; each of its recordings is in the new one. */
async function checkCatalogCarried(oldDb: Catalog, db: Catalog): Promise<void> {
  for (let after = 0; ;) {
    const page = (c: Catalog) => c.selectFrom('audit_events').select(['seq', 'leaf_hash']).where('seq', '>', after).orderBy('seq').limit(PAGE).execute();
    const [mine, theirs] = [await page(oldDb), await page(db)];
    if (mine.length === 0) break;
    for (let i = 0; i < mine.length; i++) {
      const o = mine[i]!;
      const n = theirs[i];
      if (!n || n.seq !== o.seq || !Buffer.from(n.leaf_hash ?? []).equals(Buffer.from(o.leaf_hash ?? []))) {
        throw new ArchiveError(`the old catalog's audit entry ${o.seq} is not in the archive's log as it was; nothing was removed: ` +
          'the old catalog is not the one this archive was moved from, or the archive lost entries');
      }
    }
    after = mine.at(-1)!.seq;
  }
  for (let after = ''; ;) {
    const ids = (await oldDb.selectFrom('recordings').select('id').where('id', '>', after).orderBy('id').limit(PAGE).execute()).map((r) => r.id);
    if (ids.length === 0) break;
    const found = new Set((await db.selectFrom('recordings').select('id').where('id', 'in', ids).execute()).map((r) => r.id));
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length > 0) {
      throw new ArchiveError(`${missing.length} recording(s) of the old catalog are not in the archive's (${missing[0]} among them); nothing was removed`);
    }
    after = ids.at(-1)!;
  }
}

/** Every old object a live recording refers to is in the archive's store, the same size; the old store's objects and bytes. */
async function checkObjectsCarried(oldStore: BlobStore, a: Archive): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  const keys: string[] = [];
  const check = async (batch: string[]) => {
    const live = new Set((await a.db.selectFrom('recordings').select('blob_key').where('blob_key', 'in', batch).where('erased_at', 'is', null).execute()).map((r) => r.blob_key));
    // A few requests at a time: a bucket answers each in a round trip.
    for (let i = 0; i < batch.length; i += 16) {
      await Promise.all(batch.slice(i, i + 16).map(async (key) => {
        const size = await oldStore.size(key);
        objects++;
        bytes += size;
        if (!live.has(key)) return;
        const there = await a.store.size(key).catch((err: unknown) => {
          if (err instanceof BlobNotFoundError) return null;
          throw new ArchiveError(`the archive's blob store cannot be read (${(err as Error).message}); nothing was removed`, { cause: err });
        });
        if (there !== size) {
          throw new ArchiveError(`recording object ${key} is ${there === null ? 'missing from' : `${there} bytes in`} the archive's store (${size} in the old one); nothing was removed`);
        }
      }));
    }
  };
  for await (const key of oldStore.list()) {
    keys.push(key);
    if (keys.length === PAGE) await check(keys.splice(0));
  }
  if (keys.length > 0) await check(keys);
  return { objects, bytes };
}
