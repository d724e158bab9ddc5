import type { Kysely } from 'kysely';
import { binary, commitOrderKey } from '../dialect.ts';
import { numberInCommitOrder, refuse } from './guards.ts';

// Types are chosen to exist in both SQLite and PostgreSQL; where they differ (binary values, the
// audit sequence) the dialect helpers choose.
export async function up(db: Kysely<unknown>): Promise<void> {
  const blob = binary(db);
  await db.schema.createTable('recordings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('external_call_id', 'text')
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('duration_ms', 'bigint', (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('care_unit', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text')
    .addColumn('codec', 'text', (c) => c.notNull())
    .addColumn('sample_rate', 'integer', (c) => c.notNull())
    .addColumn('channels', 'integer', (c) => c.notNull())
    .addColumn('caller_sealed', blob)
    .addColumn('callee_sealed', blob)
    .addColumn('caller_index', blob)
    .addColumn('callee_index', blob)
    .addColumn('header', blob, (c) => c.notNull())
    .addColumn('blob_key', 'text', (c) => c.notNull().unique())
    .addColumn('payload_size', 'bigint', (c) => c.notNull())
    .addColumn('plaintext_size', 'bigint', (c) => c.notNull())
    .addColumn('flags', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('ingest_key_id', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('recordings_started').on('recordings').columns(['started_at', 'id']).execute();
  await db.schema.createIndex('recordings_unit_started').on('recordings').columns(['care_unit', 'started_at']).execute();
  await db.schema.createIndex('recordings_caller').on('recordings').column('caller_index').execute();
  await db.schema.createIndex('recordings_callee').on('recordings').column('callee_index').execute();
  await db.schema.createIndex('recordings_call_id').on('recordings').column('external_call_id').execute();

  await db.schema.createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('totp_sealed', blob)
    .addColumn('totp_last_step', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.createTable('enrollments')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addColumn('pending_totp_sealed', blob)
    .execute();

  await db.schema.createTable('sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .execute();

  await db.schema.createTable('audit_events')
    .addColumn('seq', ...commitOrderKey(db))
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('actor_type', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('object_type', 'text')
    .addColumn('object_id', 'text')
    .addColumn('care_unit', 'text')
    .addColumn('patient_pseudonym', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('request_id', 'text')
    .addColumn('source', 'text')
    .addColumn('details', 'text')
    .execute();
  await numberInCommitOrder(db, 'audit_events', 'seq');
  await db.schema.createIndex('audit_object').on('audit_events').columns(['object_id', 'seq']).execute();

  // The audit table is append-only: the catalog itself refuses updates and deletes.
  await refuse(db, 'audit_events', ['UPDATE', 'DELETE'], 'audit events are append-only');
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
