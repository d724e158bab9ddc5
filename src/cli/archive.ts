// Wiring of one archive (a data directory): keys, catalog, blob store and the services over
// them. Each factory receives only what it uses; ingest never receives the archive identity.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAccounts, type Accounts } from '../access/accounts.ts';
import { createApiKeys, type ApiKeys } from '../access/api-keys.ts';
import { createBreakGlass, type BreakGlassService } from '../access/break-glass.ts';
import { createSessions, type Sessions } from '../access/sessions.ts';
import { createThrottle } from '../access/throttle.ts';
import { createUsers, type Users } from '../access/users.ts';
import { createSecretBox } from '../access/secret-box.ts';
import { createAuditLog, type AuditLog } from '../audit/log.ts';
import { createBlindIndex, type BlindIndex } from '../catalog/blind-index.ts';
import { CatalogError, describeDatabaseUrl, openCatalog, type Catalog } from '../catalog/db.ts';
import type { CatalogDialect } from '../catalog/dialect.ts';
import { createRecordingRepo, type RecordingRepo } from '../catalog/recordings.ts';
import { createLocalKeys, loadLocalKeys, type KeyProvider } from '../keys/local.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { createFsBlobStore } from '../store/fs.ts';

export interface Archive {
  dir: string;
  db: Catalog;
  /** Where the catalog lives: DATA/catalog.sqlite, or a PostgreSQL database. */
  catalog: CatalogDialect;
  store: BlobStore;
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

export class ArchiveError extends Error {}

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

/** Where an archive's catalog is: nothing for the embedded SQLite file, or a PostgreSQL URL. */
export interface CatalogChoice {
  /** postgres:// URL (--database-url, CALLVAULT_DATABASE_URL); absent: DATA/catalog.sqlite. */
  databaseUrl?: string | undefined;
}

async function openArchiveCatalog(dir: string, choice: CatalogChoice): Promise<Catalog> {
  try {
    return await openCatalog(choice.databaseUrl ? { url: choice.databaseUrl } : { file: paths(dir).catalog });
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
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // mkdir leaves an existing (empty) directory's mode alone
  const p = paths(dir);
  try {
    mkdirSync(p.keys, { mode: 0o700 });
    mkdirSync(p.blobs, { mode: 0o700 });
    const recipient = createLocalKeys(p.keys);
    const db = await openArchiveCatalog(dir, choice);
    try {
      await bindCatalog(db, recipient, choice.databaseUrl ? describeDatabaseUrl(choice.databaseUrl) : p.catalog, true);
    } finally {
      await db.destroy();
    }
    const marker = { format: 1, createdAt: new Date().toISOString(), archiveRecipient: recipient, catalog: choice.databaseUrl ? 'postgres' : 'sqlite' };
    writeFileSync(p.marker, `${JSON.stringify(marker, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Leave the directory as it was found (empty), so that init can simply be run again.
    for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
    throw e;
  }
}

/** The catalog an archive's marker (DATA/callvault.json) names; archives from before PostgreSQL say none: SQLite. */
function markedCatalog(dir: string): CatalogDialect {
  let marker: { catalog?: unknown };
  try {
    marker = JSON.parse(readFileSync(paths(dir).marker, 'utf8')) as { catalog?: unknown };
  } catch (e) {
    throw new ArchiveError(`${paths(dir).marker} cannot be read: ${(e as Error).message}`);
  }
  const c = marker.catalog ?? 'sqlite';
  if (c !== 'sqlite' && c !== 'postgres') throw new ArchiveError(`${paths(dir).marker} names an unknown catalog ${JSON.stringify(c)}`);
  return c;
}

export async function openArchive(dir: string, choice: CatalogChoice = {}): Promise<Archive> {
  const p = paths(dir);
  if (!existsSync(p.marker)) {
    throw new ArchiveError(`${dir} is not a callvault data directory; create one with: callvault init --data ${dir}`);
  }
  if ((statSync(dir).mode & 0o077) !== 0) {
    throw new ArchiveError(`${dir} is readable by other users; fix it with: chmod 700 ${dir}`);
  }
  const catalog = markedCatalog(dir);
  if (catalog === 'postgres' && !choice.databaseUrl) {
    throw new ArchiveError(`${dir} keeps its catalog in PostgreSQL; give its database with --database-url or CALLVAULT_DATABASE_URL`);
  }
  if (catalog === 'sqlite' && choice.databaseUrl) {
    throw new ArchiveError(`${dir} keeps its catalog in SQLite (${p.catalog}), but a PostgreSQL database was given ` +
      '(--database-url or CALLVAULT_DATABASE_URL); an archive stays with the catalog it was created with');
  }
  const keys = loadLocalKeys(p.keys);
  const db = await openArchiveCatalog(dir, choice);
  try {
    await bindCatalog(db, keys.archiveRecipient, choice.databaseUrl ? describeDatabaseUrl(choice.databaseUrl) : p.catalog, false);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  const store = await createFsBlobStore(p.blobs);
  const audit = createAuditLog(db);
  const sessions = createSessions({ db, audit });
  const accounts = createAccounts({ db, audit, sessions, box: createSecretBox(keys.secretsKey()), throttle: createThrottle(db) });
  const recordings = createRecordingRepo(db);
  return {
    dir, db, catalog, store, keys, audit, accounts, sessions, recordings,
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
