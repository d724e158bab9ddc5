// Where live calls become durable and how the calls left in flight are recovered, by catalog:
// - SQLite (embedded default, one process): journal files in DATA/ingest; at start, every upload
//   in the catalog was this archive's last run's, and is recovered from those files.
// - PostgreSQL (scale-out, any number of nodes): the journal is a catalog table; at start a
//   node recovers what its name had in flight, and all along it adopts the calls of nodes that
//   are gone, whose clients then go on with them here.
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { createAdoption } from '../ingest/adoption.ts';
import { CatalogJournal } from '../ingest/catalog-journal.ts';
import { Journal, journalFiles, readJournal, type IngestJournal } from '../ingest/journal.ts';
import { recoverUploads, type RecoveryDeps, type RecoveryReport } from '../ingest/recovery.ts';
import type { Archive } from './archive.ts';

export interface IngestRuntime {
  journal: IngestJournal;
  /** What was recovered at start. */
  recovery: RecoveryReport;
  /** This node's name over a shared catalog; null on the embedded default. */
  nodeId: string | null;
  leaseMs: number | null;
  takeOver?: (id: string, keyId: string) => Promise<boolean>;
  /** Adopts the calls of nodes that are gone (nothing to do on the embedded default). */
  adoptGone(): Promise<RecoveryReport>;
  /** A clean stop: everything acknowledged is durable and the calls in flight are marked interrupted, not crashed. */
  close(): Promise<void>;
}

const NONE: RecoveryReport = { recovered: [], dropped: [], kept: [] };

function merge(a: RecoveryReport, b: RecoveryReport): RecoveryReport {
  return { recovered: [...a.recovered, ...b.recovered], dropped: [...a.dropped, ...b.dropped], kept: [...a.kept, ...b.kept] };
}

export async function startIngest(a: Archive, config: Config, deps: RecoveryDeps, onLeaseLost: (err: Error) => void): Promise<IngestRuntime> {
  return a.catalog === 'postgres' ? startShared(a, config, deps, onLeaseLost) : startEmbedded(a, deps);
}

async function startEmbedded(a: Archive, deps: RecoveryDeps): Promise<IngestRuntime> {
  const journalDir = join(a.dir, 'ingest');
  const cleanMarker = join(journalDir, 'clean-shutdown');
  const before = (await journalFiles(journalDir)).map((f) => f.gen);
  const rows = await a.db.selectFrom('uploads').selectAll().execute();
  const clean = existsSync(cleanMarker);
  const recovery = await recoverUploads(deps, { rows, records: readJournal(journalDir), cleanShutdown: () => clean });
  await rm(cleanMarker, { force: true });
  const journal = await Journal.open(journalDir);
  // Journal files still describing kept uploads stay for an operator; so do their objects.
  const kept = await a.db.selectFrom('uploads').select(['id', 'blob_key']).execute();
  if (kept.length === 0) await journal.retire(before);
  await a.store.cleanOrphans(new Set(kept.map((k) => k.blob_key)));
  return {
    journal, recovery, nodeId: null, leaseMs: null,
    adoptGone: async () => NONE,
    async close() {
      await journal.close();
      // The next start files what was in flight as interrupted by a shutdown, not by a crash.
      await writeFile(cleanMarker, `${new Date().toISOString()}\n`, { mode: 0o600 });
    },
  };
}

async function startShared(a: Archive, config: Config, deps: RecoveryDeps, onLeaseLost: (err: Error) => void): Promise<IngestRuntime> {
  const leaseMs = config.nodeLeaseSeconds * 1000;
  const journal = await CatalogJournal.open({ db: a.db, node: config.nodeId, leaseMs, onLeaseLost });
  const adoption = createAdoption({ db: a.db, nodeId: config.nodeId, leaseMs, recover: (source) => recoverUploads(deps, source) });
  // What this node's name had in flight before this process, then whatever nodes are gone.
  const own = await adoption.adopt({ own: true, previousClean: journal.previousRun?.clean ?? false });
  const recovery = merge(own, await adoption.adopt());
  // Temporaries on a shared store may belong to calls other nodes are receiving right now:
  // no orphan sweep here (a temporary whose call was recovered is left behind, ciphertext only).
  return {
    journal, recovery, nodeId: config.nodeId, leaseMs,
    takeOver: adoption.takeOver,
    adoptGone: () => adoption.adopt(),
    close: () => journal.close(),
  };
}
