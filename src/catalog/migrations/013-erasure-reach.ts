import { sql, type Kysely } from 'kysely';

// Erasure that reaches every copy, and retention that runs on its own.
// - An erased recording kept its patient's blind index (patient_index): the tombstone still
//   said which patient the call was about. It is cleared on every erased row.
// - The objects an erasure (or retention) must delete are queued in the same transaction as the
//   erasure itself, and a background job deletes them, retrying while the store is away: an
//   erasure no longer waits on the store, nor forgets an object the store failed to delete.
// - Retention finds the recordings due through an index of those not erased (tombstones stay
//   forever; a scan of them would grow with every year of the archive).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`UPDATE recordings SET patient_index = NULL WHERE erased_at IS NOT NULL`.execute(db);
  await db.schema.createTable('pending_deletions')
    .addColumn('blob_key', 'text', (c) => c.primaryKey())
    .addColumn('recording_id', 'text', (c) => c.notNull())
    .addColumn('queued_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .execute();
  await db.schema.createIndex('recordings_kept_started').on('recordings').columns(['started_at', 'id'])
    .where(sql.ref('erased_at'), 'is', null).execute();
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
