import type { Kysely } from 'kysely';
import { serialKey } from '../dialect.ts';
import { refuse } from './guards.ts';

// Alerts on unusual access, for auditors.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('audit_alerts')
    .addColumn('id', ...serialKey(db))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'text')
    .execute();
  await refuse(db, 'audit_alerts', ['DELETE'], 'alerts are kept');
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
