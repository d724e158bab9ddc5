// Wiring of one archive (a data directory): keys, catalog, blob store and the services over
// them. Each factory receives only what it uses; ingest never receives the archive identity.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createAccounts, type Accounts } from '../access/accounts.ts';
import { createApiKeys, type ApiKeys } from '../access/api-keys.ts';
import { createBreakGlass, type BreakGlassService } from '../access/break-glass.ts';
import { createSessions, type Sessions } from '../access/sessions.ts';
import { createThrottle } from '../access/throttle.ts';
import { createUsers, type Users } from '../access/users.ts';
import { createSecretBox } from '../access/secret-box.ts';
import { createAuditLog, type AuditLog } from '../audit/log.ts';
import { createDirWitness, type Witness } from '../audit/witness.ts';
import { createS3Witness } from '../audit/witness-s3.ts';
import { createFileDurableSync, fsyncNamesSync } from '../lib/fsync-dir.ts';
import { createBlindIndex, type BlindIndex } from '../catalog/blind-index.ts';
import type { WitnessChoice } from '../config/config.ts';
import { CatalogError, describeDatabaseUrl, openCatalog, type Catalog } from '../catalog/db.ts';
import type { CatalogDialect } from '../catalog/dialect.ts';
import { createRecordingRepo, type RecordingRepo } from '../catalog/recordings.ts';
import { createLocalKeys, loadLocalKeys, type KeyProvider } from '../keys/local.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { createFsBlobStore } from '../store/fs.ts';
import { createS3BlobStore } from '../store/s3.ts';
import { describeLocation, parseBlobUrl } from '../store/s3-url.ts';
import { ArchiveError } from './archive-error.ts';
import { migrationUnderWay } from './lock.ts';

export interface Archive {
  dir: string;
  db: Catalog;
  /** Where the catalog lives: DATA/catalog.sqlite, or a PostgreSQL database. */
  catalog: CatalogDialect;
  store: BlobStore;
  /** Where the sealed payloads live: DATA/blobs, or an S3-compatible bucket. */
  blobs: BlobKind;
  keys: KeyProvider;
  audit: AuditLog;
  accounts: Accounts;
  sessions: Sessions;
  users: Users;
  breakGlass: BreakGlassService;
  apiKeys: ApiKeys;
  recordings: RecordingRepo;
  blindIndex: BlindIndex;
  close(): Promise<void>;
}

export { ArchiveError };

const paths = (dir: string) => ({
  keys: join(dir, 'keys'),
  catalog: join(dir, 'catalog.sqlite'),
  blobs: join(dir, 'blobs'),
  marker: join(dir, 'callvault.json'),
});

/** Whether `dir` is free for a new archive: missing, or an empty directory. */
export function isFreeForArchive(dir: string): boolean {
  return !existsSync(dir) || (statSync(dir).isDirectory() && readdirSync(dir).length === 0);
}

/** Where an archive's catalog and blobs are: nothing for the embedded defaults, or URLs. */
export interface CatalogChoice {
  /** postgres:// URL (--database-url, CALLVAULT_DATABASE_URL); absent: DATA/catalog.sqlite. */
  databaseUrl?: string | undefined;
  /** s3:// URL (--blob-url, CALLVAULT_BLOB_URL); absent: the local blob store DATA/blobs. */
  blobUrl?: string | undefined;
}

export type BlobKind = 'fs' | 's3';

/** The blob store of a choice; an S3 bucket that cannot be used is an ArchiveError naming it. */
async function openBlobStore(dir: string, choice: CatalogChoice): Promise<BlobStore> {
  if (!choice.blobUrl) return createFsBlobStore(paths(dir).blobs);
  const location = parseBlobUrl(choice.blobUrl); // validated by the configuration already
  try {
    return await createS3BlobStore(location);
  } catch (e) {
    throw new ArchiveError(`${(e as Error).message}; check --blob-url (or CALLVAULT_BLOB_URL) and the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`, { cause: e });
  }
}

/** The witness of audit checkpoints; an S3 bucket that cannot be used is an ArchiveError naming it. */
export async function openWitness(choice: WitnessChoice): Promise<Witness> {
  if (choice.kind === 'dir') return createDirWitness(choice.dir);
  try {
    return await createS3Witness(choice.location);
  } catch (e) {
    throw new ArchiveError(`the audit witness: ${(e as Error).message}; check --witness (or CALLVAULT_AUDIT_WITNESS) and the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`, { cause: e });
  }
}

async function openArchiveCatalog(dir: string, choice: CatalogChoice, existing: boolean): Promise<Catalog> {
  try {
    return await openCatalog(choice.databaseUrl ? { url: choice.databaseUrl } : { file: paths(dir).catalog }, { existing });
  } catch (e) {
    if (e instanceof CatalogError) throw new ArchiveError(e.message, { cause: e });
    throw e;
  }
}

/**
 * The catalog names the archive it belongs to (migration 006): a new catalog is bound to this
 * archive, one bound to another archive is refused (two archives must never share a database).
 */
async function bindCatalog(db: Catalog, recipient: string, where: string, fresh: boolean): Promise<void> {
  const bound = await db.selectFrom('archive_binding').select('archive_recipient').execute();
  if (bound.some((b) => b.archive_recipient === recipient)) return;
  if (bound.length > 0) {
    throw new ArchiveError(`the catalog ${where} belongs to another archive (its keys differ from this data directory's); refusing to ${fresh ? 'share it' : 'open it'}`);
  }
  if (fresh) {
    const used = await db.selectFrom('users').select('id').limit(1).executeTakeFirst()
      ?? await db.selectFrom('recordings').select('id').limit(1).executeTakeFirst();
    if (used) throw new ArchiveError(`the catalog ${where} already holds another archive's data; give callvault an empty database`);
  }
  await db.insertInto('archive_binding').values({ archive_recipient: recipient, bound_at: Date.now() }).onConflict((oc) => oc.doNothing()).execute();
}

/** Creates a new archive. Refuses any existing path that is not an empty directory. */
export async function initArchive(dir: string, choice: CatalogChoice = {}): Promise<void> {
  if (!isFreeForArchive(dir)) {
    throw new ArchiveError(`${dir} already exists and is not an empty directory; refusing to overwrite it`);
  }
  const made = mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // mkdir leaves an existing (empty) directory's mode alone
  const p = paths(dir);
  try {
    mkdirSync(p.keys, { mode: 0o700 });
    if (!choice.blobUrl) mkdirSync(p.blobs, { mode: 0o700 });
    else await (await openBlobStore(dir, choice)).close(); // the bucket is there and takes these credentials
    const recipient = createLocalKeys(p.keys);
    const db = await openArchiveCatalog(dir, choice, false);
    try {
      await bindCatalog(db, recipient, choice.databaseUrl ? describeDatabaseUrl(choice.databaseUrl) : p.catalog, true);
    } finally {
      await db.destroy();
    }
    const marker = { format: 1, createdAt: new Date().toISOString(), archiveRecipient: recipient, catalog: choice.databaseUrl ? 'postgres' : 'sqlite', blobs: choice.blobUrl ? 's3' : 'fs' };
    createFileDurableSync(p.marker, `${JSON.stringify(marker, null, 2)}\n`, 0o600);
    // The names in the data directory (keys, blobs, catalog, marker), and those of the directories
    // made for it (each held by its parent).
    fsyncNamesSync(dir, made);
  } catch (e) {
    // Leave the directory as it was found (empty), so that init can simply be run again.
    for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
    throw e;
  }
}

/**
 * The catalog and blob store an archive's marker (DATA/callvault.json) names; archives from
 * before PostgreSQL and S3 say none: SQLite and the local blob store.
 */
function marked(dir: string): { catalog: CatalogDialect; blobs: BlobKind } {
  let marker: { catalog?: unknown; blobs?: unknown };
  try {
    marker = JSON.parse(readFileSync(paths(dir).marker, 'utf8')) as { catalog?: unknown; blobs?: unknown };
  } catch (e) {
    throw new ArchiveError(`${paths(dir).marker} cannot be read: ${(e as Error).message}`);
  }
  const c = marker.catalog ?? 'sqlite';
  if (c !== 'sqlite' && c !== 'postgres') throw new ArchiveError(`${paths(dir).marker} names an unknown catalog ${JSON.stringify(c)}`);
  const b = marker.blobs ?? 'fs';
  if (b !== 'fs' && b !== 's3') throw new ArchiveError(`${paths(dir).marker} names an unknown blob store ${JSON.stringify(b)}`);
  return { catalog: c, blobs: b };
}

export async function openArchive(dir: string, choice: CatalogChoice = {}): Promise<Archive> {
  const p = paths(dir);
  if (!existsSync(p.marker)) {
    throw new ArchiveError(`${dir} is not a callvault data directory; create one with: callvault init --data ${dir}`);
  }
  if ((statSync(dir).mode & 0o077) !== 0) {
    throw new ArchiveError(`${dir} is readable by other users; fix it with: chmod 700 ${dir}`);
  }
  // What another process wrote meanwhile would be left behind in the old copy, or erased in it
  // alone (migrate also checks, at its end, that nothing was).
  const mover = migrationUnderWay(dir);
  if (mover) throw new ArchiveError(`${dir} is being moved by ${mover}: run this again once the move is over`);
  const { catalog, blobs } = marked(dir);
  if (catalog === 'postgres' && !choice.databaseUrl) {
    throw new ArchiveError(`${dir} keeps its catalog in PostgreSQL; give its database with --database-url or CALLVAULT_DATABASE_URL`);
  }
  if (catalog === 'sqlite' && choice.databaseUrl) {
    throw new ArchiveError(`${dir} keeps its catalog in SQLite (${p.catalog}), but a PostgreSQL database was given ` +
      '(--database-url or CALLVAULT_DATABASE_URL); an archive stays with the catalog it was created with');
  }
  if (blobs === 's3' && !choice.blobUrl) {
    throw new ArchiveError(`${dir} keeps its recordings in an S3-compatible bucket; give it with --blob-url or CALLVAULT_BLOB_URL`);
  }
  if (blobs === 'fs' && choice.blobUrl) {
    throw new ArchiveError(`${dir} keeps its recordings in the local blob store (${p.blobs}), but an S3 bucket was given ` +
      `(${describeLocation(parseBlobUrl(choice.blobUrl))} by --blob-url or CALLVAULT_BLOB_URL); an archive stays with the blob store it was created with`);
  }
  let keys: KeyProvider;
  try {
    keys = loadLocalKeys(p.keys);
  } catch (e) {
    // The keys are kept apart from the data (README): a restore without them is the likely case.
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${(e as NodeJS.ErrnoException).path ?? p.keys} is missing` : `a key file in it cannot be read (${(e as Error).message})`;
    throw new ArchiveError(`the archive's keys in ${p.keys} cannot be loaded: ${why}; restore the keys folder from its backup`);
  }
  const db = await openArchiveCatalog(dir, choice, true);
  try {
    await bindCatalog(db, keys.archiveRecipient, choice.databaseUrl ? describeDatabaseUrl(choice.databaseUrl) : p.catalog, false);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  let store: BlobStore;
  try {
    store = await openBlobStore(dir, choice);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  const audit = createAuditLog(db);
  const sessions = createSessions({ db, audit });
  const accounts = createAccounts({ db, audit, sessions, box: createSecretBox(keys.secretsKey()), throttle: createThrottle(db) });
  const recordings = createRecordingRepo(db);
  return {
    dir, db, catalog, store, blobs, keys, audit, accounts, sessions, recordings,
    users: createUsers({ db, audit, accounts, sessions }),
    breakGlass: createBreakGlass({ db, audit, recordings }),
    apiKeys: createApiKeys(db, audit),
    blindIndex: createBlindIndex(keys.blindIndexKey()),
    async close() {
      await store.close();
      await db.destroy();
    },
  };
}
