// What the catalog's two dialects, SQLite (embedded default) and PostgreSQL (scale-out), do
// differently. Only the catalog (db.ts, migrations) reads this: business code is the same on both.
import { PostgresAdapter, type ColumnDefinitionBuilder, type Kysely } from 'kysely';

type DataTypeExpression = 'blob' | 'bytea' | 'integer' | 'bigint';

export type CatalogDialect = 'sqlite' | 'postgres';

export function dialectOf(db: Kysely<unknown>): CatalogDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * The PostgreSQL advisory lock every catalog transaction takes first, and every audit append
 * takes too (migrations/guards.ts): writers go one at a time, as SQLite's single writer does,
 * so a read-then-write inside a transaction cannot race another node, and audit sequence
 * numbers are handed out in commit order with no gaps. The value is 'cvlt' in ASCII; it
 * never changes (triggers written by earlier migrations name it).
 */
export const WRITER_LOCK = 0x63766c74;

type ColumnSpec = readonly [DataTypeExpression, (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder];

/** Binary values (sealed headers, blind indexes, hashes): SQLite blob, PostgreSQL bytea. */
export function binary(db: Kysely<unknown>): DataTypeExpression {
  return dialectOf(db) === 'postgres' ? 'bytea' : 'blob';
}

/** An integer primary key the catalog numbers itself (gaps allowed): autoincrement, or an identity. */
export function serialKey(db: Kysely<unknown>): ColumnSpec {
  return dialectOf(db) === 'postgres'
    ? ['bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity()]
    : ['integer', (c) => c.primaryKey().autoIncrement()];
}

/**
 * An integer primary key numbered 1, 2, 3... in commit order with no gaps (the audit log's
 * sequence). SQLite's AUTOINCREMENT is that already (one writer; a rolled-back number is
 * rolled back too); on PostgreSQL a trigger numbers rows under the writer lock
 * (guards.ts numberInCommitOrder), since a sequence would skip numbers on rollback.
 */
export function commitOrderKey(db: Kysely<unknown>): ColumnSpec {
  return dialectOf(db) === 'postgres'
    ? ['bigint', (c) => c.primaryKey()]
    : ['integer', (c) => c.primaryKey().autoIncrement()];
}
