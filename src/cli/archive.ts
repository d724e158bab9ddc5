// Wiring of one archive (a data directory): keys, catalog, blob store and the services over
// them. Each factory receives only what it uses; ingest never receives the archive identity.
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
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
import { openCatalog, type Catalog } from '../catalog/db.ts';
import { createRecordingRepo, type RecordingRepo } from '../catalog/recordings.ts';
import { createLocalKeys, loadLocalKeys, type KeyProvider } from '../keys/local.ts';
import type { BlobStore } from '../store/blob-store.ts';
import { createFsBlobStore } from '../store/fs.ts';

export interface Archive {
  dir: string;
  db: Catalog;
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

/** Creates a new archive. Refuses any existing path that is not an empty directory. */
export async function initArchive(dir: string): Promise<void> {
  if (!isFreeForArchive(dir)) {
    throw new ArchiveError(`${dir} already exists and is not an empty directory; refusing to overwrite it`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700); // mkdir leaves an existing (empty) directory's mode alone
  const p = paths(dir);
  mkdirSync(p.keys, { mode: 0o700 });
  mkdirSync(p.blobs, { mode: 0o700 });
  const recipient = createLocalKeys(p.keys);
  const db = await openCatalog({ file: p.catalog });
  await db.destroy();
  writeFileSync(p.marker, `${JSON.stringify({ format: 1, createdAt: new Date().toISOString(), archiveRecipient: recipient }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
}

export async function openArchive(dir: string): Promise<Archive> {
  const p = paths(dir);
  if (!existsSync(p.marker)) {
    throw new ArchiveError(`${dir} is not a callvault data directory; create one with: callvault init --data ${dir}`);
  }
  if ((statSync(dir).mode & 0o077) !== 0) {
    throw new ArchiveError(`${dir} is readable by other users; fix it with: chmod 700 ${dir}`);
  }
  const keys = loadLocalKeys(p.keys);
  const db = await openCatalog({ file: p.catalog });
  const store = await createFsBlobStore(p.blobs);
  const audit = createAuditLog(db);
  const sessions = createSessions({ db, audit });
  const accounts = createAccounts({ db, audit, sessions, box: createSecretBox(keys.secretsKey()), throttle: createThrottle(db) });
  const recordings = createRecordingRepo(db);
  return {
    dir, db, store, keys, audit, accounts, sessions, recordings,
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
