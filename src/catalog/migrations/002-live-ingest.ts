import type { Kysely } from 'kysely';
import { binary } from '../dialect.ts';

// Live ingest: uploads in flight are catalogued (so a crash can recover them), and ingest keys
// can be bound to source addresses and given their own rate.
export async function up(db: Kysely<unknown>): Promise<void> {
  const blob = binary(db);
  await db.schema.createTable('uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('length', 'bigint')
    .addColumn('header', blob, (c) => c.notNull())
    .addColumn('payload_prefix', blob, (c) => c.notNull())
    .addColumn('blob_key', 'text', (c) => c.notNull())
    .addColumn('codec', 'text', (c) => c.notNull())
    .addColumn('sample_rate', 'integer')
    .addColumn('channels', 'integer')
    .addColumn('external_call_id', 'text')
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('care_unit', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text')
    .addColumn('caller_sealed', blob)
    .addColumn('callee_sealed', blob)
    .addColumn('caller_index', blob)
    .addColumn('callee_index', blob)
    .addColumn('resumes_recording', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('recordings').addColumn('container', 'text', (c) => c.notNull().defaultTo('wav')).execute();
  await db.schema.alterTable('api_keys').addColumn('allowed_cidrs', 'text').execute();
  await db.schema.alterTable('api_keys').addColumn('rate_per_s', 'integer').execute();
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
