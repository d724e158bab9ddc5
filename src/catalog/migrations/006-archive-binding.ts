import type { Kysely } from 'kysely';
import { refuse } from './guards.ts';

// The catalog names the archive it belongs to (by the archive's public recipient), so that a
// data directory is never opened against another archive's catalog: with PostgreSQL the catalog
// lives outside the data directory, and two archives must not share one database.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('archive_binding')
    .addColumn('archive_recipient', 'text', (c) => c.primaryKey())
    .addColumn('bound_at', 'bigint', (c) => c.notNull())
    .execute();
  await refuse(db, 'archive_binding', ['UPDATE', 'DELETE'], 'the catalog stays bound to its archive');
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
