// Who else is connected to a PostgreSQL catalog: callvault processes name themselves
// 'callvault' (db.ts), so a migration can see a server still using the database it copies,
// from whichever host that server runs on.
import pg from 'pg';
import { CatalogError, describeDatabaseUrl } from './db.ts';

/** Connections of callvault processes to the database of `url` (this check's own excluded). */
export async function callvaultConnections(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: url, application_name: 'callvault-check', connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
    const { rows } = await c.query<{ n: string }>(
      "select count(*) as n from pg_stat_activity where datname = current_database() and application_name = 'callvault' and pid <> pg_backend_pid()");
    return Number(rows[0]?.n ?? 0);
  } catch (e) {
    throw new CatalogError(`cannot reach the PostgreSQL catalog ${describeDatabaseUrl(url)}: ${(e as Error).message}`, { cause: e });
  } finally {
    await c.end().catch(() => undefined);
  }
}
