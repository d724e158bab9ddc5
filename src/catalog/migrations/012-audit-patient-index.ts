import { sql, type Kysely } from 'kysely';

// A patient's log extract reads the events that name them (their pseudonym) and those about
// their calls (audit_object). Without this index the first half read the whole log: years of
// entries for every patient who asks who listened to them. Only the events that name a patient
// are in it.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('audit_patient').on('audit_events').columns(['patient_pseudonym', 'seq'])
    .where(sql.ref('patient_pseudonym'), 'is not', null).execute();
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
