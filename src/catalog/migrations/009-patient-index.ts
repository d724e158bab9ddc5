import type { Kysely } from 'kysely';
import { binary } from '../dialect.ts';

// The patient a call is about, when the call center knows it (personnummer or samordningsnummer,
// declared at ingest as patientId): kept only as a keyed blind index, so a patient's log extract
// by personnummer finds every access to their calls. The number itself is never stored.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('uploads').addColumn('patient_index', binary(db)).execute();
  await db.schema.alterTable('recordings').addColumn('patient_index', binary(db)).execute();
  await db.schema.createIndex('recordings_patient').on('recordings').column('patient_index').execute();
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
