// The ingest journal in the catalog (PostgreSQL, several nodes): the same sealed records as the
// file journal (journal.ts), one row each, group-committed in one transaction per flush, so any
// node can recover the calls of a node that died. Every flush also renews this node's lease in
// the same transaction; a node whose lease was taken (another node adopted its calls, or a newer
// process started under its name) cannot commit anything more: it is fenced off and fails closed.
//
// Invariants: no plaintext is written (payloads are sealed); a record is acknowledged only after
// its transaction committed; a node acknowledges nothing once its lease is gone or overdue.
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { GroupCommit } from './group-commit.ts';
import { decodeRecords, recordUploadId, type IngestJournal, type JournalRecord } from './journal.ts';

export class LeaseLostError extends Error {
  constructor(why: string) {
    super(`this node no longer holds its lease (${why}); it acknowledges nothing more`);
  }
}

export interface NodeIdentity {
  id: string;
  incarnation: string;
}

export interface CatalogJournalOptions {
  db: Kysely<Database>;
  node: string;
  /** Past this, a node that has not renewed its lease is taken for dead and its calls adopted. */
  leaseMs: number;
  /** Called once when the lease is lost: the node must stop taking calls. */
  onLeaseLost?: (err: Error) => void;
  now?: () => number;
}

interface Pending {
  uploadId: string;
  record: Buffer;
}

const INSERT_ROWS = 500;

export class CatalogJournal implements IngestJournal {
  readonly kind = 'catalog';
  readonly node: NodeIdentity;
  /** How the last process under this node's name ended, if there was one: its calls in flight are this one's to recover. */
  readonly previousRun: { clean: boolean } | null;
  #db: Kysely<Database>;
  #leaseMs: number;
  #now: () => number;
  #onLeaseLost: (err: Error) => void;
  #gen: number;
  readonly #firstGen: number;
  #size = 0;
  #commit: GroupCommit<Pending>;
  #renewedAt: number;
  #timer: NodeJS.Timeout;

  private constructor(opts: CatalogJournalOptions, node: NodeIdentity, previousRun: { clean: boolean } | null, gen: number, renewedAt: number) {
    this.#db = opts.db;
    this.node = node;
    this.previousRun = previousRun;
    this.#leaseMs = opts.leaseMs;
    this.#now = opts.now ?? Date.now;
    this.#onLeaseLost = opts.onLeaseLost ?? (() => undefined);
    this.#gen = gen;
    this.#firstGen = gen;
    this.#renewedAt = renewedAt;
    this.#timer = setInterval(() => void this.#heartbeat(), Math.max(50, Math.floor(opts.leaseMs / 5)));
    this.#timer.unref();
    this.#commit = new GroupCommit<Pending>((batch, bytes) => this.#writeBatch(batch, bytes), (err) => {
      clearInterval(this.#timer);
      if (err instanceof LeaseLostError) this.#onLeaseLost(err);
    });
  }

  /**
   * Registers this process as node `opts.node` with a fresh incarnation (fencing off any older
   * process under the same name) and starts its lease. Calls the node had in flight stay in
   * the catalog for adoption (adoption.ts).
   */
  static async open(opts: CatalogJournalOptions): Promise<CatalogJournal> {
    const now = (opts.now ?? Date.now)();
    const node = { id: opts.node, incarnation: randomBytes(8).toString('hex') };
    const { gen, previous } = await opts.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('ingest_nodes').select(['stopped_at', 'clean']).where('id', '=', node.id).executeTakeFirst();
      await trx.insertInto('ingest_nodes')
        .values({ id: node.id, incarnation: node.incarnation, started_at: now, seen_at: now, stopped_at: null, clean: 0 })
        .onConflict((oc) => oc.column('id').doUpdateSet({ incarnation: node.incarnation, started_at: now, seen_at: now, stopped_at: null, clean: 0 }))
        .execute();
      const last = await trx.selectFrom('ingest_journal').where('node_id', '=', node.id)
        .select((eb) => eb.fn.max('gen').as('gen')).executeTakeFirst();
      return { gen: Number(last?.gen ?? 0) + 1, previous: before ? { clean: before.stopped_at !== null && before.clean === 1 } : null };
    });
    return new CatalogJournal(opts, node, previous, gen, now);
  }

  get generation(): number {
    return this.#gen;
  }

  /** Flushes done and records made durable, for tests and metrics. */
  get stats(): { flushes: number; records: number } {
    return this.#commit.stats;
  }

  get size(): number {
    return this.#size + this.#commit.backlog;
  }

  get backlog(): number {
    return this.#commit.backlog;
  }

  append(record: Buffer | readonly Buffer[]): Promise<void> {
    const pieces = Buffer.isBuffer(record) ? [record] : record;
    const whole = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    return this.#commit.add([{ uploadId: recordUploadId(whole), record: whole }], whole.length);
  }

  sync(): Promise<void> {
    return this.#commit.sync();
  }

  /** Renews the lease inside `trx`; throws LeaseLostError when it is no longer this process's. */
  async #renew(trx: Kysely<Database>): Promise<void> {
    const now = this.#now();
    if (now - this.#renewedAt > this.#leaseMs * 0.6) throw new LeaseLostError('not renewed in time');
    const r = await trx.updateTable('ingest_nodes').set({ seen_at: now })
      .where('id', '=', this.node.id).where('incarnation', '=', this.node.incarnation).where('stopped_at', 'is', null)
      .executeTakeFirst();
    if (Number(r.numUpdatedRows) !== 1) throw new LeaseLostError('taken over by another node or process');
    this.#renewedAt = now;
  }

  /** One transaction: the lease renewed, the batch's records inserted. */
  async #writeBatch(batch: Pending[], bytes: number): Promise<void> {
    const gen = this.#gen;
    await this.#db.transaction().execute(async (trx) => {
      await this.#renew(trx);
      for (let i = 0; i < batch.length; i += INSERT_ROWS) {
        await trx.insertInto('ingest_journal')
          .values(batch.slice(i, i + INSERT_ROWS).map((p) => ({ node_id: this.node.id, gen, upload_id: p.uploadId, record: p.record })))
          .execute();
      }
    });
    this.#size += bytes;
  }

  async #heartbeat(): Promise<void> {
    if (this.#commit.failed) return;
    try {
      await this.#db.transaction().execute((trx) => this.#renew(trx));
    } catch (err) {
      // A slow or unreachable database is retried at the next beat, until the lease runs out.
      if (err instanceof LeaseLostError) this.#commit.fail(err);
      else if (this.#now() - this.#renewedAt > this.#leaseMs * 0.6) this.#commit.fail(new LeaseLostError((err as Error).message));
    }
  }

  async rotate(): Promise<number[]> {
    await this.sync();
    const before = this.#gen;
    this.#gen++;
    this.#size = 0;
    return Array.from({ length: before - this.#firstGen + 1 }, (_, i) => this.#firstGen + i);
  }

  async retire(gens: number[]): Promise<void> {
    const old = gens.filter((g) => g !== this.#gen);
    if (old.length === 0) return;
    await this.#db.deleteFrom('ingest_journal').where('node_id', '=', this.node.id).where('gen', 'in', old).execute();
  }

  /** A clean stop: what was acknowledged is durable, and other nodes may adopt the calls at once. */
  async close(): Promise<void> {
    await this.sync().catch(() => undefined);
    clearInterval(this.#timer);
    if (this.#commit.failed) return;
    this.#commit.fail(new Error('the ingest journal is closed'));
    await this.#db.updateTable('ingest_nodes').set({ stopped_at: this.#now(), clean: 1 })
      .where('id', '=', this.node.id).where('incarnation', '=', this.node.incarnation).execute();
  }
}

/** Replays the records of the given uploads, in the order they were committed. */
export async function* readCatalogJournal(db: Kysely<Database>, uploadIds: string[]): AsyncGenerator<JournalRecord> {
  for (let i = 0; i < uploadIds.length; i += 200) {
    const ids = uploadIds.slice(i, i + 200);
    let after = 0;
    for (;;) {
      const rows = await db.selectFrom('ingest_journal').select(['seq', 'record'])
        .where('upload_id', 'in', ids).where('seq', '>', after).orderBy('seq').limit(1000).execute();
      for (const row of rows) {
        const { records, torn } = decodeRecords(Buffer.from(row.record));
        // A row is written whole or not at all; one that does not decode was altered: it ends nothing
        // else, recovery finds the gap it leaves and files the call up to it, flagged.
        if (!torn) yield* records;
      }
      if (rows.length < 1000) break;
      after = Number(rows.at(-1)!.seq);
    }
  }
}
