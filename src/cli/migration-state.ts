// What a migration keeps in the data directory: DATA/migration.json while it is unfinished
// (which targets it copies to, so that a run after an interruption goes on with the same ones),
// and the switch of DATA/callvault.json to the new catalog and blob store at its end.
// Invariants:
//  - both files are replaced whole (temporary file, fsync, rename, fsync of the directory): a
//    crash leaves the old version or the new, never a mix;
//  - neither holds a password or a credential: targets are named by their described URLs.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CatalogDialect } from '../catalog/dialect.ts';
import { createFileDurableSync, fsyncDirSync } from '../lib/fsync-dir.ts';
import { ArchiveError, type BlobKind } from './archive.ts';

interface MigrationTargetNames {
  /** The target catalog, described without its password; absent: the catalog stays. */
  catalog?: string;
  /** The target blob store, described; absent: the blob store stays. */
  blobs?: string;
}

export interface MigrationState {
  /** Names this migration in its audit event, so a later run recognizes its own finished copy. */
  id: string;
  startedAt: string;
  to: MigrationTargetNames;
}

const stateFile = (dir: string) => join(dir, 'migration.json');
const markerFile = (dir: string) => join(dir, 'callvault.json');

function replaceFile(dir: string, file: string, text: string): void {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  createFileDurableSync(tmp, text, 0o600);
  renameSync(tmp, file);
  fsyncDirSync(dir);
}

const same = (a: MigrationTargetNames, b: MigrationTargetNames) => a.catalog === b.catalog && a.blobs === b.blobs;
const named = (t: MigrationTargetNames) => [t.catalog && `catalog ${t.catalog}`, t.blobs && `blob store ${t.blobs}`].filter(Boolean).join(' and ');

/**
 * The unfinished migration to `to`, if there is one. An unfinished migration to other targets
 * is refused: its targets may hold part of a copy, and the operator decides what becomes of them.
 */
export function unfinishedMigration(dir: string, to: MigrationTargetNames): MigrationState | null {
  if (!existsSync(stateFile(dir))) return null;
  const state = JSON.parse(readFileSync(stateFile(dir), 'utf8')) as MigrationState;
  if (!same(state.to, to)) {
    throw new ArchiveError(`an unfinished migration (started ${state.startedAt}) goes to ${named(state.to)}; run migrate again with those targets to finish it, ` +
      `or remove ${stateFile(dir)} to give it up (its targets may hold part of a copy: empty them before using them again)`);
  }
  return state;
}

/** Records a new migration to `to` (once its targets have been checked): a later run after an interruption goes on with it. */
export function beginMigration(dir: string, to: MigrationTargetNames): MigrationState {
  const state: MigrationState = { id: randomBytes(16).toString('hex'), startedAt: new Date().toISOString(), to };
  replaceFile(dir, stateFile(dir), `${JSON.stringify(state, null, 2)}\n`);
  return state;
}

export function endMigration(dir: string): void {
  rmSync(stateFile(dir), { force: true });
}

/** Fields of DATA/callvault.json a migration changes; the others are kept as they are. */
export interface MarkerChange {
  catalog?: CatalogDialect;
  blobs?: BlobKind;
}

/** Switches the archive's marker to the migrated catalog and blob store, atomically. */
export function switchMarker(dir: string, change: MarkerChange): void {
  const marker = JSON.parse(readFileSync(markerFile(dir), 'utf8')) as Record<string, unknown>;
  replaceFile(dir, markerFile(dir), `${JSON.stringify({ ...marker, ...change }, null, 2)}\n`);
}
