import { sql, type Kysely } from 'kysely';
import { dialectOf } from '../dialect.ts';

// Calls per day and care unit, kept by the catalog itself as calls are filed (a trigger on
// every insert, whoever inserts), so "calls per day over a month" reads about 30 rows per unit
// instead of scanning every call of the month. Days are UTC days (started_at / 86,400,000).
// Erasure does not take a call back: the count is of calls received.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createTable('recordings_per_day')
    .addColumn('day', 'integer', (c) => c.notNull())
    .addColumn('care_unit', 'text', (c) => c.notNull())
    .addColumn('calls', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('recordings_per_day_pk', ['day', 'care_unit'])
    .execute();
  await sql`insert into recordings_per_day (day, care_unit, calls)
    select started_at / 86400000, care_unit, count(*) from recordings group by started_at / 86400000, care_unit`.execute(db);
  const upsert = `INSERT INTO recordings_per_day (day, care_unit, calls) VALUES (NEW.started_at / 86400000, NEW.care_unit, 1)
    ON CONFLICT (day, care_unit) DO UPDATE SET calls = recordings_per_day.calls + 1`;
  if (dialectOf(db) === 'postgres') {
    await sql.raw(`CREATE OR REPLACE FUNCTION recordings_count_day() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  ${upsert};
  RETURN NEW;
END $$`).execute(db);
    await sql.raw('CREATE TRIGGER recordings_count_day AFTER INSERT ON recordings FOR EACH ROW EXECUTE FUNCTION recordings_count_day()').execute(db);
  } else {
    await sql.raw(`CREATE TRIGGER recordings_count_day AFTER INSERT ON recordings BEGIN ${upsert}; END`).execute(db);
  }
}

export async function down(): Promise<void> {
  throw new Error('callvault migrations are forward-only');
}
