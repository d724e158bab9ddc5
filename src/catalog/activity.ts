// What a migration looks at in a PostgreSQL database before it uses it: who else is connected
// (callvault processes name themselves 'callvault' (db.ts), so a server still using the
// database is seen from whichever host it runs on), and tables that are not callvault's.
import pg from 'pg';
import { CatalogError, describeDatabaseUrl } from './db.ts';

/** Runs `fn` on a short-lived connection to the database of `url`; an unreachable server is a CatalogError. */
async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, application_name: 'callvault-check', connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
  } catch (e) {
    await c.end().catch(() => undefined);
    throw new CatalogError(`cannot reach the PostgreSQL catalog ${describeDatabaseUrl(url)}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Connections of callvault processes to the database of `url` (this check's own excluded). */
export async function callvaultConnections(url: string): Promise<number> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: string }>(
      "select count(*) as n from pg_stat_activity where datname = current_database() and application_name = 'callvault' and pid <> pg_backend_pid()");
    return Number(rows[0]?.n ?? 0);
  });
}

/**
 * Tables of the database of `url` (its current schema) other than `ours` and the migrations'
 * own: looked at before callvault creates its tables in a database it is given.
 */
export async function otherTables(url: string, ours: ReadonlySet<string>): Promise<string[]> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ name: string }>(
      "select table_name as name from information_schema.tables where table_schema = current_schema() order by table_name");
    return rows.map((r) => r.name).filter((n) => !ours.has(n) && n !== 'kysely_migration' && n !== 'kysely_migration_lock');
  });
}
