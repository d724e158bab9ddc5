import { sql, type Kysely } from 'kysely';

// A number's blind index is absent from many calls: the caller of a call back, the callee of
// most inbound calls, the patient where the call center did not declare one, and every number
// of an erased call. Their indexes hold only the calls that have one, so they stay small and
// a bulk load does not sort millions of empty entries. A search for a number (column = value)
// still uses them, on both catalogs.
const NUMBER_INDEXES = [['recordings_caller', 'caller_index'], ['recordings_callee', 'callee_index'], ['recordings_patient', 'patient_index']] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [name, column] of NUMBER_INDEXES) {
    await db.schema.dropIndex(name).execute();
    await db.schema.createIndex(name).on('recordings').column(column).where(sql.ref(column), 'is not', null).execute();
  }
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
