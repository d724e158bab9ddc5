import { sql, type Kysely } from 'kysely';

// Alerts on unusual access, for auditors.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('audit_alerts')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'text')
    .execute();
  await sql`CREATE TRIGGER audit_alerts_no_delete BEFORE DELETE ON audit_alerts
    BEGIN SELECT RAISE(ABORT, 'alerts are kept'); END`.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
