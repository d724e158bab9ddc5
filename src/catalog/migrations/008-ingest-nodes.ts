import type { Kysely } from 'kysely';
import { binary, serialKey } from '../dialect.ts';

// Several nodes over one catalog (scale-out). Each serving process is a node with a name and an
// incarnation; it renews its lease as it works. Uploads in flight name the node receiving them.
// On PostgreSQL the ingest journal is a catalog table, so any node can recover (adopt) the calls
// of a node that died, and a client can go on with its call on another node.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('ingest_nodes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('incarnation', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('seen_at', 'bigint', (c) => c.notNull())
    .addColumn('stopped_at', 'bigint')
    .addColumn('clean', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('uploads').addColumn('node_id', 'text').execute();
  const [type, spec] = serialKey(db);
  await db.schema.createTable('ingest_journal')
    .addColumn('seq', type, spec)
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('gen', 'integer', (c) => c.notNull())
    .addColumn('upload_id', 'text', (c) => c.notNull())
    .addColumn('record', binary(db), (c) => c.notNull())
    .execute();
  await db.schema.createIndex('ingest_journal_upload').on('ingest_journal').columns(['upload_id', 'seq']).execute();
  await db.schema.createIndex('ingest_journal_node_gen').on('ingest_journal').columns(['node_id', 'gen']).execute();
  // Alert rules count an actor's recent events from the shared log (every node sees the same).
  await db.schema.createIndex('audit_actor_at').on('audit_events').columns(['actor_id', 'at']).execute();
  await db.schema.createIndex('audit_alerts_rule_actor').on('audit_alerts').columns(['rule', 'actor_id', 'at']).execute();
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
