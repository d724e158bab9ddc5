import { sql, type Kysely } from 'kysely';
import { entryLeafHash, type EntryColumns } from '../../audit/entry.ts';
import { binary } from '../dialect.ts';
import { allow, refuse } from './guards.ts';

// The audit log becomes a Merkle log: each entry carries its leaf hash, and signed checkpoints
// of the tree are kept (and copied to a witness directory outside the data directory).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('leaf_hash', binary(db)).execute();
  // Entries written before this migration get their hash now: the only update ever allowed.
  await allow(db, 'audit_events', 'UPDATE');
  const rows = await sql<EntryColumns & { seq: number }>`SELECT * FROM audit_events ORDER BY seq`.execute(db);
  for (const r of rows.rows) {
    await sql`UPDATE audit_events SET leaf_hash = ${entryLeafHash(r)} WHERE seq = ${r.seq}`.execute(db);
  }
  await refuse(db, 'audit_events', ['UPDATE'], 'audit events are append-only');
  await db.schema.createTable('audit_checkpoints')
    .addColumn('size', 'bigint', (c) => c.primaryKey())
    .addColumn('root', binary(db), (c) => c.notNull())
    .addColumn('note', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await refuse(db, 'audit_checkpoints', ['UPDATE', 'DELETE'], 'checkpoints are append-only');
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
