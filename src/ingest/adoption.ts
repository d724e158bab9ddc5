// Adoption (PostgreSQL, several nodes): the calls in flight on a node that died are recovered by
// another node, up to their last acknowledged byte, and their clients go on there (tus resume).
// A node is gone when it stopped, or has not renewed its lease for `leaseMs`. Claiming its
// uploads and fencing it off (its row marked stopped, so its journal can commit nothing more)
// happen in one catalog transaction, under the catalog's writer lock: two nodes never adopt the
// same call, and the old node never acknowledges a byte after its call was adopted.
import type { Kysely } from 'kysely';
import type { Database, UploadRow } from '../catalog/schema.ts';
import { HttpError } from '../http/errors.ts';
import { readCatalogJournal } from './catalog-journal.ts';
import type { RecoveryReport, RecoverySource } from './recovery.ts';

export interface AdoptionDeps {
  db: Kysely<Database>;
  /** This node's name. */
  nodeId: string;
  leaseMs: number;
  recover: (source: RecoverySource) => Promise<RecoveryReport>;
  now?: () => number;
}

export interface Adoption {
  /**
   * Claims and files the uploads of nodes that are gone; with `own`, also those this node's
   * name had in flight before this process started (its earlier run); `previousClean` says
   * whether that run stopped cleanly.
   */
  adopt(opts?: { own?: boolean; previousClean?: boolean; uploadId?: string }): Promise<RecoveryReport>;
  /**
   * For a request about an upload this process does not hold: adopts it when its node is gone
   * (true), answers 423 while its node is alive, false when no such upload belongs to `keyId`.
   */
  takeOver(id: string, keyId: string): Promise<boolean>;
}

type Claimable = UploadRow & { seen_at: number | null; stopped_at: number | null; clean: number | null };

export function createAdoption(deps: AdoptionDeps): Adoption {
  const now = deps.now ?? Date.now;
  const gone = (r: Claimable, t: number) => r.seen_at === null || r.stopped_at !== null || r.seen_at < t - deps.leaseMs;
  const claimable = (r: Claimable, t: number, own: boolean) => (r.node_id === deps.nodeId ? own : gone(r, t));

  /** Uploads in flight on some node (one, or all), with that node's lease. */
  const inFlight = async (db: Kysely<Database>, uploadId?: string): Promise<Claimable[]> => {
    let q = db.selectFrom('uploads').leftJoin('ingest_nodes', 'ingest_nodes.id', 'uploads.node_id')
      .selectAll('uploads').select(['ingest_nodes.seen_at', 'ingest_nodes.stopped_at', 'ingest_nodes.clean'])
      .where('uploads.node_id', 'is not', null);
    if (uploadId !== undefined) q = q.where('uploads.id', '=', uploadId);
    return (await q.execute()) as Claimable[];
  };

  async function claim(opts: { own?: boolean; previousClean?: boolean; uploadId?: string }): Promise<{ rows: UploadRow[]; clean: Set<string>; from: Map<string, string> }> {
    return deps.db.transaction().execute(async (trx) => {
      const t = now();
      const candidates = await inFlight(trx, opts.uploadId);
      const taken = candidates.filter((r) => claimable(r, t, opts.own === true));
      const clean = new Set<string>();
      const fenced = new Set<string>();
      const rows: UploadRow[] = [];
      const from = new Map<string, string>();
      for (const { seen_at: _seen, stopped_at: stopped, clean: stoppedCleanly, ...r } of taken) {
        const res = await trx.updateTable('uploads').set({ node_id: deps.nodeId }).where('id', '=', r.id).where('node_id', '=', r.node_id).executeTakeFirst();
        if (Number(res.numUpdatedRows) !== 1) continue;
        if (r.node_id === deps.nodeId) {
          if (opts.previousClean === true) clean.add(r.id);
        } else {
          if (stopped !== null && stoppedCleanly === 1) clean.add(r.id);
          fenced.add(r.node_id!);
        }
        rows.push({ ...r, node_id: deps.nodeId });
        from.set(r.id, r.node_id!);
      }
      // A node taken for dead that was only slow finds its lease gone at its next commit.
      for (const node of fenced) await trx.updateTable('ingest_nodes').set({ stopped_at: t }).where('id', '=', node).where('stopped_at', 'is', null).execute();
      return { rows, clean, from };
    });
  }

  /**
   * Drops the journal rows recovery read for these uploads: those up to `upTo`. A call filed
   * early in the batch may already be going on (reopened, on any node) and writing rows of its
   * own under the same upload id, after `upTo`: they stay.
   */
  async function forget(ids: readonly string[], upTo: number): Promise<void> {
    for (let i = 0; i < ids.length; i += 200) {
      await deps.db.deleteFrom('ingest_journal').where('upload_id', 'in', ids.slice(i, i + 200)).where('seq', '<=', upTo).execute();
    }
  }

  async function adopt(opts: { own?: boolean; previousClean?: boolean; uploadId?: string } = {}): Promise<RecoveryReport> {
    // Looked at first without the catalog's writer lock, which every node's journal commits
    // wait on: the claim (under the lock, looking again) happens only when there is work.
    const t = now();
    if (!(await inFlight(deps.db, opts.uploadId)).some((r) => claimable(r, t, opts.own === true))) return { recovered: [], dropped: [], kept: [] };
    const { rows, clean, from } = await claim(opts);
    if (rows.length === 0) return { recovered: [], dropped: [], kept: [] };
    // Every row of these calls is written by now (their nodes are fenced off): what comes later is a reopen's.
    const upTo = Number((await deps.db.selectFrom('ingest_journal').select((eb) => eb.fn.max('seq').as('m')).executeTakeFirst())?.m ?? 0);
    const ids = rows.map((r) => r.id);
    let report: RecoveryReport;
    try {
      report = await deps.recover({ rows, records: readCatalogJournal(deps.db, ids), cleanShutdown: (u) => clean.has(u.id) });
    } catch (err) {
      // Recovery stopped (the blob store away...): the calls it did not file go back to the node
      // that had them, which is fenced off, so the next round (on any node) claims them again
      // instead of leaving them held here, answered 423, until this process restarts.
      const left = new Set((await deps.db.selectFrom('uploads').select('id').where('id', 'in', ids).where('node_id', '=', deps.nodeId).execute()).map((r) => r.id));
      for (const id of left) {
        const back = from.get(id);
        if (back !== undefined && back !== deps.nodeId) await deps.db.updateTable('uploads').set({ node_id: back }).where('id', '=', id).where('node_id', '=', deps.nodeId).execute();
      }
      await forget(ids.filter((id) => !left.has(id)), upTo);
      throw err;
    }
    await forget([...report.recovered.map((r) => r.id), ...report.dropped], upTo);
    return report;
  }

  const read = async (id: string) => (await inFlight(deps.db, id))[0];
  const busy = () => new HttpError(423, 'this call is being received by another node; try again in a moment', { 'retry-after': '1' });

  return {
    adopt,
    async takeOver(id, keyId) {
      const row = await read(id);
      if (!row || row.key_id !== keyId) return false;
      if (row.node_id === deps.nodeId || !gone(row, now())) throw busy();
      const report = await adopt({ uploadId: id });
      if (report.recovered.some((r) => r.id === id)) return true;
      // Another node claimed it first and may be filing it right now: the client retries.
      if (await read(id)) throw busy();
      return false;
    },
  };
}
