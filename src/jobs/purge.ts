// Purge: what an erasure leaves to do once its transaction has committed. The erasure has
// destroyed the recording's key and queued its objects (pending_deletions, in the same
// transaction); this job deletes them, and retries those the store failed to delete (an S3
// outage, or an object it refuses) until they are gone, with the recording and object named in
// the log. It compacts the catalog as soon as the erasure has committed, without waiting on
// the store: on SQLite (secure_delete on) the write-ahead log, which still holds
// the pages as they were before the erasure, is checkpointed and truncated; on PostgreSQL the
// tables an erasure touched are vacuumed, so their dead row versions' space can be reused (VACUUM
// does not zero it: README, what erasure cannot reach on PostgreSQL).
import { sql, type Kysely } from 'kysely';
import { reclaimFreedSpace, runAlone } from '../catalog/db.ts';
import type { Database } from '../catalog/schema.ts';
import { BlobNotFoundError, type BlobStore } from '../store/blob-store.ts';

export interface PurgeDeps {
  db: Kysely<Database>;
  store: BlobStore;
  /** Failures no request can report (the store away, a busy catalog): for the operator's log. */
  onError?: (what: string, err: unknown) => void;
}

export interface Purge {
  /**
   * Deletes the objects of one erasure, waiting at most `waitMs`: true when they are gone; false
   * when they stay queued (the store failed or is slow) for the background runs to retry.
   */
  settle(keys: readonly string[], waitMs: number): Promise<boolean>;
  /**
   * Erasures have committed (their keys are gone from the rows): the catalog is compacted now,
   * without waiting on the store, so that no old page keeps a key beside an object still stored.
   */
  erased(): void;
  /** One background run: every queued object, then the catalog compaction. Returns objects deleted. */
  run(): Promise<number>;
  /** Objects still queued for deletion. */
  pending(): Promise<number>;
  /** Resolves when no run or compaction is under way. */
  idle(): Promise<void>;
  /**
   * Stops: no object more is tried (what is queued stays queued for the next start); waits for
   * the one under way at most `waitMs`.
   */
  close(waitMs: number): Promise<void>;
}

const BATCH = 200;
/** Failed deletes in a row that mean the store is away (not refusing one object). */
const STORE_AWAY = 3;

function gone(err: unknown): void {
  if (!(err instanceof BlobNotFoundError)) throw err;
}

export function createPurge(deps: PurgeDeps): Purge {
  const { db, store } = deps;
  const onError = deps.onError ?? (() => undefined);
  let compactDue = false;
  /** Where the next run starts: after the object the last one stopped at. */
  let resumeAfter = '';
  let running: Promise<number> | null = null;
  let compacting: Promise<void> = Promise.resolve();
  let closed = false;

  /**
   * Deletes queued objects (committed, or still a temporary) in order, and takes those gone off
   * the queue in one statement. An object the store fails to delete keeps its queue row (its
   * attempts counted, its error kept) and the next is tried: one the store refuses for good (a
   * lock on it, a policy) must not hold up those behind it. After STORE_AWAY failures in a row
   * the store is taken to be away and the rest waits for the next run. `all` is false when one is
   * left; `last` is the last object tried.
   */
  async function deleteQueued(rows: ReadonlyArray<{ blob_key: string; recording_id: string }>): Promise<{ deleted: number; all: boolean; away: boolean; last: string | undefined }> {
    const deleted: string[] = [];
    let all = true;
    let failures = 0;
    let last: string | undefined;
    for (const { blob_key: key, recording_id: recording } of rows) {
      if (closed || failures >= STORE_AWAY) {
        all = false;
        break;
      }
      last = key;
      try {
        // Already gone (or never there: a synthetic row's name) is as good as deleted.
        await store.delete(key).catch(gone);
        await store.discard(key).catch(gone); // a call that went on after a crash had a temporary too
        deleted.push(key);
        failures = 0;
      } catch (err) {
        all = false;
        failures++;
        const message = (err as Error)?.message ?? String(err);
        await db.updateTable('pending_deletions').set({ attempts: sql`attempts + 1`, last_error: message.slice(0, 500) })
          .where('blob_key', '=', key).execute().catch(() => undefined);
        onError(`deleting object ${key} of erased recording ${recording} (it stays queued and is retried)`, err);
      }
    }
    const away = closed || failures >= STORE_AWAY;
    if (deleted.length > 0) {
      try {
        await db.deleteFrom('pending_deletions').where('blob_key', 'in', deleted).execute();
      } catch (err) {
        // The objects are gone; their queue rows stay, and a later run finds them gone.
        onError('taking deleted objects off the queue of erased recordings', err);
        return { deleted: 0, all: false, away: true, last };
      }
      compactDue = true;
    }
    return { deleted: deleted.length, all, away, last };
  }

  async function compact(): Promise<void> {
    if (!compactDue) return;
    compactDue = false;
    try {
      if (!(await reclaimFreedSpace(db))) compactDue = true; // a reader held the log: the next run tries again
    } catch (err) {
      compactDue = true;
      onError('compacting the catalog after an erasure', err);
    }
  }

  function scheduleCompaction(): Promise<void> {
    compacting = compacting.then(compact);
    return compacting;
  }

  function erased(): void {
    compactDue = true;
    void scheduleCompaction();
  }

  /**
   * Every queued object once, in key order, starting after the object the last run stopped at
   * (the store away, or closing) and wrapping round: objects the store keeps refusing, first in
   * the queue, cannot stop those behind them from ever being tried.
   */
  async function runOnce(): Promise<number> {
    let deleted = 0;
    const start = resumeAfter;
    let after = start;
    let wrapped = start === '';
    for (;;) {
      let q = db.selectFrom('pending_deletions').select(['blob_key', 'recording_id']).where('blob_key', '>', after);
      if (wrapped && start !== '') q = q.where('blob_key', '<=', start);
      const batch = await q.orderBy('blob_key').limit(BATCH).execute();
      const done = await deleteQueued(batch);
      deleted += done.deleted;
      if (done.away) {
        resumeAfter = done.last ?? after;
        break;
      }
      if (batch.length < BATCH) {
        if (wrapped) {
          resumeAfter = '';
          break;
        }
        wrapped = true;
        after = '';
        continue;
      }
      after = batch.at(-1)!.blob_key;
    }
    await scheduleCompaction();
    return deleted;
  }

  return {
    async settle(keys, waitMs) {
      // The erasure has committed: the catalog's files are compacted now, whatever the store
      // does, or the key would stay in them beside an object the store still holds.
      erased();
      const work = (async () => {
        // Another node, or an earlier run, may have got there first: what is no longer queued is gone.
        const rows = keys.length ? await db.selectFrom('pending_deletions').select(['blob_key', 'recording_id']).where('blob_key', 'in', keys).execute() : [];
        const { all } = await deleteQueued(rows);
        void scheduleCompaction();
        return all;
      })().catch((err: unknown) => {
        // Whatever fails here, the erasure itself is committed: the queue is retried later.
        onError('deleting the objects of an erased recording (they stay queued)', err);
        return false;
      });
      return within(work, waitMs, false);
    },
    erased,
    run() {
      running ??= runAlone(db, 'purge', runOnce).then((n) => n ?? 0).finally(() => {
        running = null;
      });
      return running;
    },
    async pending() {
      const { n } = await db.selectFrom('pending_deletions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      return Number(n);
    },
    async idle() {
      await running?.catch(() => undefined);
      await compacting;
    },
    async close(waitMs) {
      closed = true;
      await within(this.idle(), waitMs, undefined);
    },
  };
}

/** What `work` gives, or `otherwise` once `ms` have passed without it (the work goes on). */
async function within<T>(work: Promise<T>, ms: number, otherwise: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<T>((resolve) => {
      timer = setTimeout(() => resolve(otherwise), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}
