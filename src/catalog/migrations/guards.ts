import { sql, type Kysely } from 'kysely';
import { dialectOf, WRITER_LOCK } from '../dialect.ts';

type Op = 'INSERT' | 'UPDATE' | 'DELETE';

// PostgreSQL: one trigger function raises whatever message its trigger passes it.
const PG_REFUSE = `CREATE OR REPLACE FUNCTION callvault_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'restrict_violation';
END $$`;

/**
 * Makes the catalog itself refuse `ops` on `table` with `message`: a SQLite trigger that
 * RAISEs, or a PostgreSQL trigger function that raises (refusing DELETE refuses TRUNCATE too,
 * which PostgreSQL's row triggers do not see). Names and messages are fixed strings of the
 * migrations (and of tests), never input.
 */
export async function refuse(db: Kysely<unknown>, table: string, ops: ReadonlyArray<Op>, message: string): Promise<void> {
  const pg = dialectOf(db) === 'postgres';
  if (pg) await sql.raw(PG_REFUSE).execute(db);
  for (const op of ops) {
    const name = `${table}_no_${op.toLowerCase()}`;
    if (!pg) {
      await sql.raw(`CREATE TRIGGER ${name} BEFORE ${op} ON ${table}
    BEGIN SELECT RAISE(ABORT, '${message}'); END`).execute(db);
      continue;
    }
    await sql.raw(`CREATE TRIGGER ${name} BEFORE ${op} ON ${table} FOR EACH ROW EXECUTE FUNCTION callvault_refuse('${message}')`).execute(db);
    if (op === 'DELETE') {
      await sql.raw(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION callvault_refuse('${message}')`).execute(db);
    }
  }
}

/** Undoes refuse() for one operation (a migration that must touch old rows, or a test). */
export async function allow(db: Kysely<unknown>, table: string, op: Op): Promise<void> {
  const name = `${table}_no_${op.toLowerCase()}`;
  if (dialectOf(db) === 'sqlite') {
    await sql.raw(`DROP TRIGGER IF EXISTS ${name}`).execute(db);
    return;
  }
  await sql.raw(`DROP TRIGGER IF EXISTS ${name} ON ${table}`).execute(db);
  if (op === 'DELETE') await sql.raw(`DROP TRIGGER IF EXISTS ${table}_no_truncate ON ${table}`).execute(db);
}

/**
 * The rows of `table` are numbered in `column` 1, 2, 3... in commit order, with no gaps, by the
 * catalog itself (whatever number a writer gives). SQLite: its AUTOINCREMENT key already is
 * (dialect.ts commitOrderKey). PostgreSQL: a row trigger takes the writer lock, which it holds
 * until commit, and numbers the row one past the highest committed one.
 */
export async function numberInCommitOrder(db: Kysely<unknown>, table: string, column: string): Promise<void> {
  if (dialectOf(db) === 'sqlite') return;
  const fn = `${table}_${column}_next`;
  await sql.raw(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(${WRITER_LOCK});
  NEW.${column} := coalesce((SELECT ${column} FROM ${table} ORDER BY ${column} DESC LIMIT 1), 0) + 1;
  RETURN NEW;
END $$`).execute(db);
  await sql.raw(`CREATE TRIGGER ${table}_${column} BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${fn}()`).execute(db);
}
