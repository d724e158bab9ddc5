// Opens the catalog and brings its schema up to date. SQLite is the embedded default.
import { chmodSync, existsSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
import type { Database } from './schema.ts';
import * as m001 from './migrations/001-foundation.ts';
import * as m002 from './migrations/002-live-ingest.ts';
import * as m003 from './migrations/003-audit-merkle.ts';
import * as m004 from './migrations/004-audit-alerts.ts';
import * as m005 from './migrations/005-identity.ts';

const migrations: Record<string, Migration> = {
  '001-foundation': m001,
  '002-live-ingest': m002,
  '003-audit-merkle': m003,
  '004-audit-alerts': m004,
  '005-identity': m005,
};

class StaticMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations;
  }
}

export type Catalog = Kysely<Database>;

export interface OpenCatalogOptions {
  /** Path of the SQLite file. */
  file: string;
}

export async function openCatalog(opts: OpenCatalogOptions): Promise<Catalog> {
  const fresh = !existsSync(opts.file);
  const sqlite = new SqliteDatabase(opts.file);
  if (fresh) chmodSync(opts.file, 0o600);
  sqlite.pragma('journal_mode = WAL');
  // FULL: a committed transaction (an audit event, an acknowledged recording) survives power loss.
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.defaultSafeIntegers(false);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db);
  return db;
}

export async function migrate(db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrations() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`catalog migration ${failed?.migrationName ?? ''} failed: ${String((error as Error)?.message ?? error)}`);
  }
}
