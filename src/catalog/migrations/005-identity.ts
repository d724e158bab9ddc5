import { sql, type Kysely } from 'kysely';
import { binary } from '../dialect.ts';

// Identity and need-to-know access: people carry roles and care-unit scopes (and, for agents,
// the agent id their calls carry); second factors beyond TOTP (passkeys, recovery codes);
// throttling that survives a restart and is shared by every node; one-time challenges for
// passkeys and single sign-on; break-glass grants with their review; legal hold and erasure.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').addColumn('roles', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  await db.schema.alterTable('users').addColumn('care_units', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  await db.schema.alterTable('users').addColumn('agent_id', 'text').execute();
  await db.schema.alterTable('users').addColumn('oidc_issuer', 'text').execute();
  await db.schema.alterTable('users').addColumn('oidc_subject', 'text').execute();
  await db.schema.alterTable('users').addColumn('updated_at', 'bigint').execute();
  // The foundation's single role becomes the first entry of the role list.
  await sql`UPDATE users SET roles = '["' || role || '"]'`.execute(db);
  await db.schema.alterTable('users').dropColumn('role').execute();
  await db.schema.createIndex('users_oidc').on('users').columns(['oidc_issuer', 'oidc_subject']).unique().execute();

  await db.schema.alterTable('sessions').addColumn('auth_method', 'text', (c) => c.notNull().defaultTo('password+totp')).execute();
  await db.schema.alterTable('sessions').addColumn('step_up_at', 'bigint').execute();
  await db.schema.createIndex('sessions_user').on('sessions').column('user_id').execute();

  await db.schema.createTable('recovery_codes')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('used_at', 'bigint')
    .addPrimaryKeyConstraint('recovery_codes_pk', ['user_id', 'code_hash'])
    .execute();

  await db.schema.createTable('passkeys')
    .addColumn('id', 'text', (c) => c.primaryKey()) // the credential id, base64url
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('public_key', binary(db), (c) => c.notNull()) // COSE key
    .addColumn('counter', 'bigint', (c) => c.notNull())
    .addColumn('transports', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('passkeys_user').on('passkeys').column('user_id').execute();

  // Failed attempts per account name (as typed, known or not) and per source address.
  await db.schema.createTable('auth_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey()) // sha256 of "user:NAME" or "addr:ADDRESS"
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_start', 'bigint', (c) => c.notNull())
    .addColumn('locked_until', 'bigint')
    .execute();

  // One-time challenges: passkey ceremonies and single sign-on round trips.
  await db.schema.createTable('auth_challenges')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('data', 'text', (c) => c.notNull()) // JSON; never a secret of a person
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.createTable('break_glass')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('recording_id', 'text', (c) => c.notNull())
    .addColumn('care_unit', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('review_state', 'text', (c) => c.notNull().defaultTo('open'))
    .addColumn('reviewed_by', 'text')
    .addColumn('reviewed_at', 'bigint')
    .addColumn('review_verdict', 'text')
    .addColumn('review_note', 'text')
    .execute();
  await db.schema.createIndex('break_glass_grant').on('break_glass').columns(['user_id', 'recording_id', 'expires_at']).execute();
  await db.schema.createIndex('break_glass_review').on('break_glass').columns(['review_state', 'created_at']).execute();

  await db.schema.createIndex('recordings_agent_started').on('recordings').columns(['agent_id', 'started_at']).execute();

  // Privacy officers: a legal hold keeps a recording from erasure; an erased recording keeps
  // only a tombstone row (its id, unit and times) so the audit log still refers to something.
  await db.schema.alterTable('recordings').addColumn('legal_hold', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  await db.schema.alterTable('recordings').addColumn('erased_at', 'bigint').execute();
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
