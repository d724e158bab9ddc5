// callvault migrate: moves an archive to a PostgreSQL catalog and/or an S3-compatible blob
// store (or from one to another), while no server is serving it. Wiring only: the use case is
// migrate.ts. Nothing it prints carries a password (database URLs are described without it;
// blob URLs never carry credentials).
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { callvaultConnections, otherTables } from '../catalog/activity.ts';
import { COPY_PLAN } from '../catalog/copy-plan.ts';
import { CatalogCopyError } from '../catalog/copy.ts';
import { CatalogError, describeDatabaseUrl, openCatalog, type Catalog } from '../catalog/db.ts';
import type { Witness } from '../audit/witness.ts';
import { isPostgresUrl, loadConfig, witnessOf } from '../config/config.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { BlobCopyError } from '../store/copy.ts';
import { createS3BlobStore } from '../store/s3.ts';
import { BlobUrlError, describeLocation, parseBlobUrl, type S3Location } from '../store/s3-url.ts';
import { ArchiveError, openArchive, openWitness, type Archive } from './archive.ts';
import { lockDataDir } from './lock.ts';
import { migrateArchive, type CatalogTarget, type MigrationResult, type StoreTarget } from './migrate.ts';
import { describeOldCopy, oldCopyIn, removeOldCopy, type OldCopy } from './old-copy.ts';
import { out, UsageError } from './output.ts';
import { createMigrationDisplay } from './progress-bar.ts';

const USAGE = 'usage: callvault migrate --data DIR [--database-url URL] [--blob-url URL] ' +
  '[--to-database-url postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE] [--to-blob-url s3://BUCKET[/PREFIX]?endpoint=URL]  (at least one --to-)\n' +
  '       callvault migrate --data DIR --database-url URL|--blob-url URL --remove-old-copy  (after a move: removes what it left in DIR)';

/** CALLVAULT_MIGRATE_BATCH_ROWS: catalog rows copied per transaction (default 1000). */
function batchRows(): number | undefined {
  const v = process.env.CALLVAULT_MIGRATE_BATCH_ROWS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1 || n > 100_000) throw new UsageError('CALLVAULT_MIGRATE_BATCH_ROWS is a whole number of rows, 1 to 100000');
  return n;
}

function parse(args: string[]) {
  try {
    return parseArgs({
      args, strict: true, allowPositionals: false,
      options: {
        data: { type: 'string' }, 'database-url': { type: 'string' }, 'blob-url': { type: 'string' },
        'to-database-url': { type: 'string' }, 'to-blob-url': { type: 'string' }, 'remove-old-copy': { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${USAGE}`);
  }
}

/** The target database URL, checked without ever repeating it (it may carry a password). */
function targetUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!isPostgresUrl(value)) {
    throw new UsageError(`--to-database-url must be postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE\n${USAGE}`);
  }
  return value;
}

function targetBlobUrl(value: string | undefined): S3Location | undefined {
  if (value === undefined) return undefined;
  try {
    return parseBlobUrl(value);
  } catch (e) {
    if (e instanceof BlobUrlError) throw new UsageError(`--to-blob-url ${e.message}\n${USAGE}`);
    throw e;
  }
}

/** The same bucket and prefix at the same place. */
const sameBucket = (a: S3Location, b: S3Location) => a.bucket === b.bucket && a.prefix === b.prefix && a.endpoint === b.endpoint;

/** The same database named twice (the password and options aside). */
function sameDatabase(a: string, b: string): boolean {
  const key = (s: string) => {
    const u = new URL(s);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  };
  return key(a) === key(b);
}

/** A server (or any callvault process) connected to the catalog would keep writing to the old copy. */
async function refuseIfInUse(url: string, which: string): Promise<void> {
  const n = await callvaultConnections(url);
  if (n > 0) {
    throw new ArchiveError(`${n} callvault connection(s) are open to the ${which} catalog ${describeDatabaseUrl(url)}: ` +
      'stop every callvault server using it, then run migrate again');
  }
}

async function openTargetStore(location: S3Location): Promise<BlobStore> {
  try {
    return await createS3BlobStore(location);
  } catch (e) {
    throw new ArchiveError(`the target blob store ${describeLocation(location)} cannot be used: ${(e as Error).message}; ` +
      'check --to-blob-url and the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY', { cause: e });
  }
}

async function openTarget(url: string): Promise<Catalog> {
  try {
    return await openCatalog({ url });
  } catch (e) {
    if (e instanceof CatalogError) throw new ArchiveError(e.message, { cause: e });
    throw e;
  }
}

function report(r: MigrationResult, to: { catalog?: string; blobUrl?: string; oldCopy: OldCopy | null; oldElsewhere?: string }): void {
  if (r.alreadyCopied) out('An earlier run had copied and verified everything; the archive is now switched.');
  if (r.catalog) out(`Catalog: ${r.catalog.tables.length} tables, ${r.catalog.tables.reduce((n, t) => n + t.rows, 0)} rows, every table's row count and digest equal to the source's.`);
  const since = r.catalog?.reconciled;
  if (since && since.rewritten + since.deleted > 0) {
    out(`Brought up to date with what changed since the earlier run: ${since.rewritten} rows rewritten, ${since.deleted} removed; recordings erased in the meantime, now erased in the copy too: ${since.erased}.`);
  }
  if (r.blobs?.removed) out(`Blobs: ${r.blobs.removed} objects the archive no longer has (erased or replaced since the earlier run) deleted from the target, each checked gone.`);
  if (r.blobs) out(`Blobs: ${r.blobs.objects} objects (${r.blobs.bytes} bytes), ${r.blobs.copied} copied now${r.blobs.replaced ? ` (${r.blobs.replaced} found damaged in the target and copied again)` : ''}, every one read back with the source's size and SHA-256.`);
  out('The archive is switched. From now on give every callvault command:');
  if (to.catalog) out(`  --database-url URL (or CALLVAULT_DATABASE_URL): the PostgreSQL catalog ${to.catalog}, with its password`);
  if (to.blobUrl) out(`  --blob-url '${to.blobUrl}' (or CALLVAULT_BLOB_URL), with the bucket's credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`);
  if (to.oldCopy) {
    out(`The old copy stays in the data directory (${describeOldCopy(to.oldCopy)}), and erasures do not reach it: check the archive ` +
      '(callvault audit verify, with the settings above), then remove it with callvault migrate --data DIR --remove-old-copy (with the settings above).');
  }
  if (to.oldElsewhere) out(`The old ${to.oldElsewhere} was left as it was, and erasures do not reach it: keep it until you have checked the archive (callvault audit verify), then remove it.`);
}

/** callvault migrate --remove-old-copy: what a move left in the data directory, checked against the archive, then removed. */
async function removeOld(values: ReturnType<typeof parse>): Promise<number> {
  if (values['to-database-url'] !== undefined || values['to-blob-url'] !== undefined) throw new UsageError(`--remove-old-copy moves nothing: give it without --to-\n${USAGE}`);
  const c = loadConfig({ data: values.data, 'database-url': values['database-url'], 'blob-url': values['blob-url'] });
  const lock = lockDataDir(c.dataDir, 'migrate');
  let a: Archive | undefined;
  let witness: Witness | undefined;
  try {
    a = await openArchive(c.dataDir, c);
    witness = await openWitness(witnessOf(c));
    const removed = await removeOldCopy(a, { witness, actor: { type: 'operator', id: userInfo().username, role: 'operator' }, progress: (text) => out(`${text}...`) });
    if (!removed) {
      out('No old copy in the data directory: nothing to remove.');
      return 0;
    }
    const parts = [removed.catalogFiles.length > 0 ? `the embedded catalog (${removed.catalogFiles.join(', ')})` : '', removed.blobs ? `the local blob store (${removed.objects} objects, ${removed.bytes} bytes)` : ''].filter(Boolean);
    out(`Removed the old copy: ${parts.join(' and ')}. The archive holds everything it held; the removal is in the audit log.`);
    return 0;
  } finally {
    await witness?.close();
    await a?.close();
    lock.release();
  }
}

export async function migrate(args: string[]): Promise<number> {
  const values = parse(args);
  if (values['remove-old-copy']) return removeOld(values);
  const to = targetUrl(values['to-database-url']);
  const toBlobs = targetBlobUrl(values['to-blob-url']);
  if (!to && !toBlobs) throw new UsageError(`nothing to migrate to\n${USAGE}`);
  const c = loadConfig({ data: values.data, 'database-url': values['database-url'], 'blob-url': values['blob-url'] });
  if (to && c.databaseUrl && sameDatabase(c.databaseUrl, to)) throw new UsageError('the target database is the archive\'s own catalog; give another, empty database');
  if (toBlobs && c.blobUrl && sameBucket(parseBlobUrl(c.blobUrl), toBlobs)) throw new UsageError('the target blob store is the archive\'s own; give another, empty bucket or prefix');
  // Checked before anything is written anywhere (the target database included).
  const rows = batchRows();
  const lock = lockDataDir(c.dataDir, 'migrate');
  let source: Archive | undefined;
  let target: Catalog | undefined;
  let store: BlobStore | undefined;
  const display = createMigrationDisplay(process.stdout);
  try {
    if (c.databaseUrl) await refuseIfInUse(c.databaseUrl, 'source');
    if (to) {
      await refuseIfInUse(to, 'target');
      // Before callvault's tables are made there: a database used for something else is left as it is.
      const other = await otherTables(to, new Set(COPY_PLAN.map((p) => p.table)));
      if (other.length > 0) {
        throw new ArchiveError(`the target database ${describeDatabaseUrl(to)} holds tables that are not callvault's (${other.slice(0, 5).join(', ')}${other.length > 5 ? ', ...' : ''}); ` +
          'nothing was written to it: give migrate an empty database');
      }
    }
    source = await openArchive(c.dataDir, c);
    target = to ? await openTarget(to) : undefined;
    store = toBlobs ? await openTargetStore(toBlobs) : undefined;
    const toCatalog: CatalogTarget | undefined = target && to ? { db: target, dialect: 'postgres', name: describeDatabaseUrl(to) } : undefined;
    const toStore: StoreTarget | undefined = store && toBlobs ? { store, kind: 's3', name: describeLocation(toBlobs) } : undefined;
    const result = await migrateArchive({
      source: { dir: c.dataDir, db: source.db, catalog: source.catalog, store: source.store, blobs: source.blobs },
      toCatalog, toStore,
      actor: { type: 'operator', id: userInfo().username, role: 'operator' },
      progress: display,
      batchRows: rows,
    });
    display.done();
    const moved = { catalog: toCatalog ? 'postgres' as const : source.catalog, blobs: toStore ? 's3' as const : source.blobs };
    const elsewhere = [toCatalog && c.databaseUrl ? 'PostgreSQL catalog' : '', toStore && c.blobUrl ? 'bucket prefix' : ''].filter(Boolean).join(' and ');
    report(result, { catalog: toCatalog?.name, blobUrl: values['to-blob-url'], oldCopy: oldCopyIn(c.dataDir, moved), oldElsewhere: elsewhere || undefined });
    return 0;
  } catch (e) {
    display.done();
    if (e instanceof CatalogCopyError || e instanceof BlobCopyError) throw new ArchiveError(`migration stopped, nothing switched: ${e.message}`, { cause: e });
    throw e;
  } finally {
    await store?.close();
    await target?.destroy();
    await source?.close();
    lock.release();
  }
}
