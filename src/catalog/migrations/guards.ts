import { sql, type Kysely } from 'kysely';

/**
 * Makes the catalog itself refuse `ops` (UPDATE, DELETE) on `table` with `message`.
 * Names and messages are fixed strings of the migrations, never input.
 */
export async function refuse(db: Kysely<unknown>, table: string, ops: ReadonlyArray<'UPDATE' | 'DELETE'>, message: string): Promise<void> {
  for (const op of ops) {
    await sql.raw(`CREATE TRIGGER ${table}_no_${op.toLowerCase()} BEFORE ${op} ON ${table}
    BEGIN SELECT RAISE(ABORT, '${message}'); END`).execute(db);
  }
}
