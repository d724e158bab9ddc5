// A test archive whose audit log holds given entries, hashed as the log hashes them and signed in
// a checkpoint (catalog and witness), with the catalog's guard against updating audit entries
// taken away, as an insider with write access to the catalog could.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { auditVerifierKey, createCheckpointer, logOrigin } from '../../src/audit/checkpointer.ts';
import { entryLeafHash, type EntryColumns } from '../../src/audit/entry.ts';
import { DEFAULT_CHUNK, verifyAuditLog, type ParallelOptions, type VerifyReport } from '../../src/audit/verify.ts';
import type { Catalog } from '../../src/catalog/db.ts';
import { allow } from '../../src/catalog/migrations/guards.ts';
import { initTestArchive, openTestArchive, releaseTestArchivesUnder } from './catalog.ts';

export interface SignedAuditLog {
  db: Catalog;
  /** `audit verify` of the log, the way asked. */
  verify(parallel: ParallelOptions): Promise<VerifyReport>;
  close(): Promise<void>;
}

/** `prepare` may rewrite entries (and their hashes) before the checkpoint is signed. */
export async function signedAuditLog(rows: readonly EntryColumns[], prepare?: (db: Catalog) => Promise<void>): Promise<SignedAuditLog> {
  const root = await mkdtemp(join(tmpdir(), 'callvault-audit-log-'));
  const dir = join(root, 'data');
  const witnessDir = `${dir}-witness`;
  await initTestArchive(dir);
  const a = await openTestArchive(dir);
  const origin = logOrigin(a.keys.archiveRecipient);
  await a.db.transaction().execute(async (trx) => {
    for (let k = 0; k < rows.length; k += 200) {
      await trx.insertInto('audit_events').values(rows.slice(k, k + 200).map((row) => ({ ...row, leaf_hash: entryLeafHash(row) }))).execute();
    }
  });
  await allow(a.db as Kysely<unknown>, 'audit_events', 'UPDATE');
  await prepare?.(a.db);
  const cps = createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witnessDir });
  assert.equal((await cps.checkpoint())?.size, rows.length);
  const vkey = auditVerifierKey(origin, a.keys.auditSigningKey());
  return {
    db: a.db,
    verify: (parallel) => verifyAuditLog({ db: a.db, vkey, witnessDir, parallel }),
    close: async () => {
      await a.close();
      await releaseTestArchivesUnder(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** In one pass, or in chunks by at most the threads asked for (a worker may start too late to get one). */
export function assertRehashedAsAsked(r: VerifyReport, parallel: ParallelOptions): void {
  if (parallel.workers === 0) {
    assert.deepEqual([r.chunks, r.threads], [0, 1], 'one pass');
    return;
  }
  assert.equal(r.chunks, Math.ceil(r.entries / (parallel.chunk ?? DEFAULT_CHUNK)), 'chunked');
  const most = parallel.workers! + (parallel.thisThread === false ? 0 : 1);
  assert.ok(r.threads >= 1 && r.threads <= most, `${r.threads} threads re-hashed it, at most ${most} could`);
}
