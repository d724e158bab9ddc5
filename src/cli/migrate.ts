// Moving an archive to another catalog and/or blob store (callvault migrate): copy everything,
// verify everything, audit it, then switch the data directory's marker to the new places.
// Invariants:
//  - the source is only read, never changed or emptied: until the marker is switched the
//    archive is exactly where it was, and after, the old copy is still there to fall back to;
//  - the marker is switched only after every table matched by count and digest and every
//    object was read back from the target with its source's size and SHA-256;
//  - the migration's audit event is written in the catalog the archive uses from then on,
//    after the copy was verified, and names the migration, so a run after an interruption
//    between the event and the switch recognizes its finished copy instead of copying again;
//  - calls in flight are not migrated half-way: migrate waits for them to be filed;
//  - a run after an interruption makes the targets equal to the source as it is then, whatever
//    was done to it in between (it stays the live archive until the switch): an erasure reaches
//    the copy first in the catalog (the copy's row becomes the source's tombstone, without its
//    key), then in the store (the copied object is deleted); what was filed, changed and audited
//    since is copied.
import type { Actor } from '../audit/events.ts';
import { createAuditLog } from '../audit/log.ts';
import { sql } from 'kysely';
import { checkTarget, copyCatalog, reconcileCatalog, type CatalogCopyReport, type ReconcileReport, type TableProgress } from '../catalog/copy.ts';
import { asAny, tablesOf } from '../catalog/copy-plan.ts';
import type { Catalog } from '../catalog/db.ts';
import type { CatalogDialect } from '../catalog/dialect.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { checkTargetStore, copyBlobs, planBlobCopy, removeFromTarget, type BlobCopyProgress, type BlobCopyReport, type BlobPlan } from '../store/copy.ts';
import { ArchiveError, type BlobKind } from './archive.ts';
import { beginMigration, endMigration, switchMarker, unfinishedMigration, type MarkerChange, type MigrationState } from './migration-state.ts';

export interface MigrationSource {
  dir: string;
  db: Catalog;
  catalog: CatalogDialect;
  store: BlobStore;
  blobs: BlobKind;
}

export interface CatalogTarget {
  db: Catalog;
  dialect: CatalogDialect;
  /** Described without a password. */
  name: string;
}

export interface StoreTarget {
  store: BlobStore;
  kind: BlobKind;
  name: string;
}

export interface MigrationProgress {
  phase(text: string): void;
  table(p: TableProgress): void;
  blobs(p: BlobCopyProgress): void;
}

export interface MigrationRequest {
  source: MigrationSource;
  toCatalog?: CatalogTarget;
  toStore?: StoreTarget;
  actor: Actor;
  progress: MigrationProgress;
  /** Catalog rows per batch (one target transaction each). */
  batchRows?: number;
}

export interface MigrationResult {
  resumed: boolean;
  /** An earlier run had already copied and verified everything; this one only switched. */
  alreadyCopied: boolean;
  catalog?: CatalogCopyReport;
  blobs?: BlobCopyReport & {
    /** Objects an earlier run copied that the source no longer has (erased or replaced since), deleted from the target. */
    removed: number;
  };
}

const count = async (db: Catalog, table: 'uploads' | 'audit_events') =>
  Number((await db.selectFrom(table).select((e) => e.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

/** Calls in flight have temporaries and a journal no copy can carry over: they are filed first. */
async function refuseCallsInFlight(db: Catalog): Promise<void> {
  const n = await count(db, 'uploads');
  if (n > 0) {
    throw new ArchiveError(`${n} call(s) are still in flight (not yet filed); serve the archive until they have ended ` +
      '(a start files calls a crash or a stop interrupted), stop it, then run migrate again');
  }
}

/** The last audit event of this migration, if an earlier run already wrote it (the copy was done then). */
async function finishedEvent(db: Catalog, state: MigrationState): Promise<{ auditEntries: number } | null> {
  const rows = await db.selectFrom('audit_events').select('details').where('action', '=', 'archive.migrated').orderBy('seq').execute();
  const events = rows.map((r) => JSON.parse(r.details ?? '{}') as { migration?: string; auditEntries: number });
  return events.filter((d) => d.migration === state.id).at(-1) ?? null;
}

/**
 * Objects the catalog refers to (live recordings with audio), and those never carried over: of
 * erased recordings, and any an erasure queued for deletion (pending_deletions, where the
 * catalog has it) that the store still holds.
 */
async function blobKeysOf(db: Catalog): Promise<{ required: string[]; erased: Set<string> }> {
  const rows = await db.selectFrom('recordings').select(['blob_key', 'erased_at', 'flags']).execute();
  const required: string[] = [];
  const erased = new Set<string>();
  for (const r of rows) {
    if (r.erased_at !== null) erased.add(r.blob_key);
    else if (!(JSON.parse(r.flags) as string[]).includes('synthetic')) required.push(r.blob_key); // synthetic calls have no audio
  }
  if ((await tablesOf(asAny(db))).includes('pending_deletions')) {
    const { rows: queued } = await sql<{ blob_key: string }>`select blob_key from pending_deletions`.execute(db);
    for (const q of queued) erased.add(q.blob_key);
  }
  return { required, erased };
}

interface StorePlan {
  plan: BlobPlan;
  /** Objects in the target the source no longer has (only when resuming: a first run refuses them). */
  stale: string[];
}

/** What the blob store copy will copy, with the target checked: a first run refuses one holding objects this archive does not have. */
async function planStore(req: MigrationRequest, to: StoreTarget, resuming: boolean): Promise<StorePlan> {
  req.progress.phase(`listing the objects of the blob store`);
  const { required, erased } = await blobKeysOf(req.source.db);
  const listed: string[] = [];
  for await (const key of req.source.store.list()) if (!erased.has(key)) listed.push(key);
  const plan = await planBlobCopy(req.source.store, required, listed);
  const stale = await checkTargetStore(to.store, plan, { resuming });
  return { plan, stale };
}

export async function migrateArchive(req: MigrationRequest): Promise<MigrationResult> {
  const { source, toCatalog, toStore } = req;
  if (!toCatalog && !toStore) throw new ArchiveError('nothing to migrate to: give --to-database-url, --to-blob-url or both');
  await refuseCallsInFlight(source.db);
  // Every change to an archive is audited: a log that grew while the copy ran means another
  // process (one that ignored the lock) changed the archive, and the copy may miss it.
  const auditAtStart = await count(source.db, 'audit_events');
  const targets = { catalog: toCatalog?.name, blobs: toStore?.name };
  const unfinished = unfinishedMigration(source.dir, targets);
  // From now on the archive's catalog is the target's, if it moves.
  const next = toCatalog?.db ?? source.db;
  const change: MarkerChange = { ...(toCatalog ? { catalog: toCatalog.dialect } : {}), ...(toStore ? { blobs: toStore.kind } : {}) };
  const done = unfinished ? await finishedEvent(next, unfinished) : null;
  if (done) {
    // Unused since: the source's log holds what it held then (and, where the catalog stays, the event itself).
    const used = await count(source.db, 'audit_events') !== done.auditEntries + (toCatalog ? 0 : 1);
    if (!used) {
      switchMarker(source.dir, change);
      endMigration(source.dir);
      return { resumed: true, alreadyCopied: true };
    }
    if (toCatalog) {
      // Its log ends on this migration's event, which the source's does not have: the copy cannot be brought up to date.
      throw new ArchiveError('the archive was used after an earlier run of this migration finished its copy, so the copy is out of date ' +
        '(recordings erased since are whole in it: their keys in its catalog' + (toStore ? ', their objects in its blob store' : '') + '); ' +
        `drop that database${toStore ? ' and empty that bucket prefix' : ''}, remove ${source.dir}/migration.json and migrate again into an empty database`);
    }
    // Only the objects move: those filed since are copied too (objects already copied are checked, not copied again).
  }
  // The targets are checked before anything is written: a target refused leaves no migration behind.
  const resuming = unfinished !== null;
  if (toCatalog) await checkTarget(source.db, toCatalog.db, { resuming });
  const blobPlan = toStore ? await planStore(req, toStore, resuming) : undefined;
  const state = unfinished ?? beginMigration(source.dir, targets);
  const result: MigrationResult = { resumed: resuming, alreadyCopied: false };
  let reconciled: ReconcileReport | undefined;
  if (resuming && toCatalog) {
    // Erasures since the earlier run reach the copy's catalog first: its keys are gone before its objects.
    req.progress.phase(`bringing what an earlier run copied to ${toCatalog.name} up to date (erasures and other changes since)`);
    reconciled = await reconcileCatalog(source.db, toCatalog.db, { batchRows: req.batchRows });
  }
  // Objects first, the catalog last: its verification is then the last thing before the switch.
  if (toStore && blobPlan) {
    if (blobPlan.stale.length > 0) {
      req.progress.phase(`deleting ${blobPlan.stale.length} objects from ${toStore.name} that the archive no longer has (erased or replaced since an earlier run)`);
      await removeFromTarget(toStore.store, blobPlan.stale);
    }
    req.progress.phase(`copying ${blobPlan.plan.keys.length} objects to ${toStore.name}, verifying each`);
    const copied = await copyBlobs(source.store, toStore.store, blobPlan.plan, { onProgress: (p) => req.progress.blobs(p) });
    result.blobs = { ...copied, removed: blobPlan.stale.length };
  }
  if (toCatalog) {
    req.progress.phase(`copying the catalog to ${toCatalog.name}`);
    result.catalog = await copyCatalog(source.db, toCatalog.db, { batchRows: req.batchRows, resuming, reconciled, onProgress: (p) => req.progress.table(p) });
  }
  const auditEntries = await count(source.db, 'audit_events');
  if (auditEntries !== auditAtStart) {
    // Left as an unfinished migration: the next run brings the copy up to date (erasures first).
    throw new ArchiveError(`the archive changed while it was being moved (${auditEntries - auditAtStart} audit events were written meanwhile, ` +
      'by a callvault process that did not wait for the move): nothing was switched; stop that process and run callvault migrate again, ' +
      'which brings the copy up to date');
  }
  await createAuditLog(next).record({
    action: 'archive.migrated', actor: req.actor, outcome: 'success',
    details: {
      migration: state.id, auditEntries,
      catalog: { from: source.catalog, to: toCatalog?.dialect ?? source.catalog },
      blobs: { from: source.blobs, to: toStore?.kind ?? source.blobs },
      rows: result.catalog?.tables.reduce((n, t) => n + t.rows, 0) ?? null,
      objects: result.blobs?.objects ?? null, bytes: result.blobs?.bytes ?? null,
      // What an earlier run had copied and the source changed or removed since (erasures among it), brought up to date.
      ...(resuming ? { since: { rowsRewritten: result.catalog?.reconciled.rewritten ?? null, rowsDeleted: result.catalog?.reconciled.deleted ?? null,
        recordingsErased: result.catalog?.reconciled.erased ?? null, objectsDeleted: result.blobs?.removed ?? null } } : {}),
    },
  });
  switchMarker(source.dir, change);
  endMigration(source.dir);
  return result;
}
