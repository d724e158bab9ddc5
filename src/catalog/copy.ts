// Copies a whole catalog into another (SQLite to PostgreSQL, or any pair of the two dialects),
// table by table in dependency order (copy-plan.ts), in batches, every value as it is.
// Invariants:
//  - the target is empty, or holds an earlier, interrupted copy of the same archive (its
//    archive_binding names the same recipient): anything else is refused before a row is written;
//  - a row already in the target is never written twice (by key; append: after the target's
//    last number), so the copy can be run again after it was killed at any point;
//  - run again, the copy converges on the source as it is now, whatever was done to it in
//    between (it stays the live archive until a migration switches): a target row the source
//    no longer has is deleted, one that differs is rewritten with the source's values, first of
//    all an erased recording's, whose tombstone replaces the copy holding its key and numbers;
//  - the source is only read;
//  - the copy counts as done only when every table's row count and digest match (verifyCopy).
import { sql, type Kysely } from 'kysely';
import { dialectOf } from './dialect.ts';
import { asAny, COPY_PLAN, keyOf, keyText, pageAfter, rowHash, rowsWithKeysOf, tableDigest, tablesOf, type AnyDb, type Row, type TablePlan } from './copy-plan.ts';
import { reclaimFreedSpace, type Catalog } from './db.ts';

/** The copy cannot go on; the message says what an operator can do. */
export class CatalogCopyError extends Error {}

export interface TableProgress {
  table: string;
  /** Source rows gone through so far (copied now, or found already copied). */
  done: number;
  /** Source rows at the start. */
  total: number;
}

export interface CatalogCopyOptions {
  /** Source rows read per page (one target transaction each). */
  batchRows?: number;
  /** Called after every batch (a thrown error stops the copy: nothing is half-written). */
  onProgress?(p: TableProgress): void;
}

export interface CatalogCopyReport {
  tables: Array<{ table: string; rows: number; sha256: string }>;
  /** Target rows of an earlier run made equal to the source's again (changed or removed there since). */
  reconciled: ReconcileReport;
}

export interface ReconcileReport {
  /** Rows rewritten with the source's values. */
  rewritten: number;
  /** Rows deleted: the source no longer has them. */
  deleted: number;
  /** Recordings erased in the source since an earlier run whose copy was still whole. */
  erased: number;
}

/** Bound parameters per INSERT: inside SQLite's limit (32766) and PostgreSQL's (65535). */
const MAX_PARAMS = 30_000;

/** The plan's tables this catalog has (those of later migrations may be missing); refuses any it does not know. */
export async function planFor(db: Catalog): Promise<TablePlan[]> {
  const have = new Set(await tablesOf(asAny(db)));
  const unknown = [...have].filter((t) => !COPY_PLAN.some((p) => p.table === t));
  if (unknown.length > 0) {
    throw new CatalogCopyError(`the catalog has tables this version of callvault does not know how to copy (${unknown.join(', ')}); use the callvault version that created them`);
  }
  return COPY_PLAN.filter((p) => have.has(p.table));
}

/**
 * Refuses a target that is neither empty nor, when an interrupted copy is resumed, that copy of
 * this archive: one bound to another archive, one holding this archive without a copy to resume
 * (a finished migration's, now the archive's own catalog: copying the old rows into it would
 * bring back what was changed or removed since), or one holding rows without being bound to any.
 */
export async function checkTarget(source: Catalog, target: Catalog, opts: { resuming: boolean }): Promise<'empty' | 'resuming'> {
  const ours = (await source.selectFrom('archive_binding').select('archive_recipient').execute()).map((r) => r.archive_recipient);
  const theirs = (await target.selectFrom('archive_binding').select('archive_recipient').execute()).map((r) => r.archive_recipient);
  if (theirs.some((r) => !ours.includes(r))) {
    throw new CatalogCopyError('the target catalog belongs to another archive; give migrate an empty database');
  }
  if (theirs.length > 0) {
    if (opts.resuming) return 'resuming';
    throw new CatalogCopyError('the target catalog already holds this archive, and no unfinished migration is copying to it ' +
      '(a migration to it has finished: the archive may be using it now); nothing was written. Give migrate an empty database');
  }
  for (const plan of await planFor(target)) {
    const { rows } = await sql`select 1 as x from ${sql.table(plan.table)} limit 1`.execute(target);
    if (rows.length > 0) throw new CatalogCopyError(`the target catalog is not empty (table ${plan.table} has rows) and is not an earlier copy of this archive; give migrate an empty database`);
  }
  return 'empty';
}

async function countRows(db: AnyDb, table: string): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

/** Inserts `rows` into the target as the table's mode says, in one transaction. */
async function writeBatch(target: AnyDb, plan: TablePlan, rows: Row[]): Promise<void> {
  const perInsert = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, Object.keys(rows[0]!).length)));
  await target.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += perInsert) {
      const part = rows.slice(i, i + perInsert);
      const insert = trx.insertInto(plan.table).values(part);
      if (plan.mode === 'append') {
        await insert.execute();
      } else if (plan.mode === 'overwrite') {
        const others = Object.keys(part[0]!).filter((c) => !plan.key.includes(c));
        await insert.onConflict((oc) => oc.columns(plan.key as string[]).doUpdateSet(Object.fromEntries(others.map((c) => [c, sql.ref(`excluded.${c}`)])))).execute();
      } else {
        await insert.onConflict((oc) => oc.columns(plan.key as string[]).doNothing()).execute();
      }
    }
  });
}

/** The target's last number of an append table: the copy goes on after it. */
async function lastKey(db: AnyDb, plan: TablePlan): Promise<number> {
  const col = plan.key[0]!;
  const { rows } = await sql<{ k: number | null }>`select max(${sql.ref(col)}) as k from ${sql.table(plan.table)}`.execute(db);
  return Number(rows[0]?.k ?? 0);
}

async function copyTable(source: AnyDb, target: AnyDb, plan: TablePlan, opts: CatalogCopyOptions): Promise<void> {
  const batch = opts.batchRows ?? 1000;
  const total = await countRows(source, plan.table);
  let done = 0;
  let after: unknown[] | null = null;
  if (plan.mode === 'append') {
    const last = await lastKey(target, plan);
    if (last > 0) {
      after = [last];
      done = Math.min(total, last);
    }
  }
  opts.onProgress?.({ table: plan.table, done, total });
  for (;;) {
    const page = await pageAfter(source, plan, after, batch);
    if (page.length === 0) break;
    await writeBatch(target, plan, page);
    after = keyOf(plan, page[page.length - 1]!);
    if (plan.mode === 'append' && (await lastKey(target, plan)) !== Number(after[0])) {
      throw new CatalogCopyError(`the target's ${plan.table} numbering has diverged from the source's; give migrate an empty database`);
    }
    done += page.length;
    opts.onProgress?.({ table: plan.table, done, total });
    if (page.length < batch) break;
  }
  if (plan.identity && dialectOf(target as Kysely<unknown>) === 'postgres') {
    // Rows came with their ids: the identity's next value must lie past them.
    await sql`select setval(pg_get_serial_sequence(${plan.table}, ${plan.identity}), coalesce(max(${sql.ref(plan.identity)}), 0) + 1, false) from ${sql.table(plan.table)}`.execute(target);
  }
}

/** The condition selecting `row` by its key. */
function byKey(plan: TablePlan, row: Row) {
  return sql.join(plan.key.map((k) => sql`${sql.ref(k)} = ${row[k]}`), sql` and `);
}

/**
 * Makes the target rows of one table equal to the source's: deletes those the source no longer
 * has and rewrites those that differ (the rows still missing are the copy's to insert). Goes
 * through the target's rows a page at a time, looking each page's keys up in the source.
 */
async function reconcileTable(source: AnyDb, target: AnyDb, plan: TablePlan, batch: number, report: ReconcileReport): Promise<void> {
  let after: unknown[] | null = null;
  for (;;) {
    const page = await pageAfter(target, plan, after, batch);
    if (page.length === 0) break;
    const theirs = await rowsWithKeysOf(source, plan, page);
    const gone: Row[] = [];
    const changed: Row[] = [];
    for (const row of page) {
      const now = theirs.get(keyText(plan, row));
      if (!now) gone.push(row);
      else if (!rowHash(now).equals(rowHash(row))) changed.push(now);
    }
    if (gone.length > 0 || changed.length > 0) {
      await target.transaction().execute(async (trx) => {
        for (const row of gone) await sql`delete from ${sql.table(plan.table)} where ${byKey(plan, row)}`.execute(trx);
        for (const row of changed) {
          const set = sql.join(Object.keys(row).filter((c) => !plan.key.includes(c)).map((c) => sql`${sql.ref(c)} = ${row[c]}`));
          await sql`update ${sql.table(plan.table)} set ${set} where ${byKey(plan, row)}`.execute(trx);
        }
      });
      report.deleted += gone.length;
      report.rewritten += changed.length;
      if (plan.table === 'recordings') {
        const was = new Map(page.map((r) => [keyText(plan, r), r]));
        report.erased += changed.filter((r) => r.erased_at !== null && was.get(keyText(plan, r))?.erased_at === null).length;
      }
    }
    if (page.length < batch) break;
    after = keyOf(plan, page[page.length - 1]!);
  }
}

/**
 * What an earlier, interrupted copy wrote is made equal to the source as it is now: in reverse
 * dependency order (what refers to a row goes before it), every mirrored table's target rows
 * that the source removed are deleted and those it changed rewritten. An erasure done in the
 * source in between thus reaches the copy: the copy's row becomes the same tombstone, without
 * the wrapped key, the sealed numbers and their indexes. Rows rewritten or deleted leave their
 * old values in the target's storage until it compacts them, which is then done at once
 * (PostgreSQL: VACUUM of the tables touched; SQLite: a truncating checkpoint of the log).
 */
export async function reconcileCatalog(source: Catalog, target: Catalog, opts: { batchRows?: number } = {}): Promise<ReconcileReport> {
  const report: ReconcileReport = { rewritten: 0, deleted: 0, erased: 0 };
  const touched: string[] = [];
  for (const plan of [...(await planFor(source))].reverse()) {
    if (plan.mode !== 'mirror' && plan.mode !== 'overwrite') continue;
    const before = report.rewritten + report.deleted;
    await reconcileTable(asAny(source), asAny(target), plan, opts.batchRows ?? 1000, report);
    if (report.rewritten + report.deleted > before) touched.push(plan.table);
  }
  // The old versions of rows rewritten or deleted (an erased recording's key among them).
  if (touched.length > 0) await reclaimFreedSpace(target, touched);
  return report;
}

/**
 * Proves the target holds exactly the source's rows: per table, the same count and digest.
 * Throws naming every table that differs.
 */
export async function verifyCopy(source: Catalog, target: Catalog): Promise<Pick<CatalogCopyReport, 'tables'>> {
  const tables: CatalogCopyReport['tables'] = [];
  const differ: string[] = [];
  for (const plan of await planFor(source)) {
    const [a, b] = [await tableDigest(asAny(source), plan), await tableDigest(asAny(target), plan)];
    if (a.rows !== b.rows || a.sha256 !== b.sha256) differ.push(`${plan.table} (source ${a.rows} rows, target ${b.rows}${a.rows === b.rows ? ', contents differ' : ''})`);
    tables.push({ table: plan.table, rows: a.rows, sha256: a.sha256 });
  }
  if (differ.length > 0) {
    throw new CatalogCopyError(`the target catalog does not match the source: ${differ.join('; ')}. Nothing was switched; ` +
      'if the source changed during the copy, run migrate again; otherwise give it an empty database');
  }
  return { tables };
}

/**
 * Copies every table of `source` into `target`, then verifies the copy. Safe to run again after
 * an interruption, saying so with `resuming`: the rows an earlier run wrote are first brought up
 * to date with the source (reconcileCatalog), then what is missing is copied.
 */
export async function copyCatalog(source: Catalog, target: Catalog, opts: CatalogCopyOptions & { resuming?: boolean; reconciled?: ReconcileReport } = {}): Promise<CatalogCopyReport> {
  await checkTarget(source, target, { resuming: opts.resuming ?? false });
  const targetTables = new Set((await planFor(target)).map((p) => p.table));
  const plans = await planFor(source);
  const missing = plans.filter((p) => !targetTables.has(p.table)).map((p) => p.table);
  if (missing.length > 0) throw new CatalogCopyError(`the target catalog lacks tables ${missing.join(', ')}`);
  // An earlier run's rows first (a row the source removed may stand in the way of one it added),
  // unless the caller has just done it, with nothing written to the source since.
  const reconciled = opts.reconciled ?? await reconcileCatalog(source, target, opts);
  for (const plan of plans) await copyTable(asAny(source), asAny(target), plan, opts);
  return { ...(await verifyCopy(source, target)), reconciled };
}
