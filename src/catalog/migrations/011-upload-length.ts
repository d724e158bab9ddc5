import type { Kysely } from 'kysely';

// The Upload-Length its client declared, kept with the recording: a call filed early (a crash,
// a shutdown) is continued by its client later, and a tus client that gave its length at
// creation must find it again in HEAD, and have the call filed when the last byte arrives.
// Null where the length was never declared (a live call that had not hung up).
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('recordings').addColumn('upload_length', 'bigint').execute();
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
