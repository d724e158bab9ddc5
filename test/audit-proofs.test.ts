// Inclusion proofs from the catalog's tiles equal those of the whole tree rebuilt in memory, at
// every kind of position (inside a complete tile, in the last partial tile, at tile edges) and
// tree size (below one tile, a multiple of the tile, in between); a proof for an entry verifies
// against its checkpoint's signed root; a log with a gap is still proved by rebuilding.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { createCheckpointer, logOrigin } from '../src/audit/checkpointer.ts';
import { MerkleTree, verifyInclusion } from '../src/audit/merkle.ts';
import { catalogInclusionProof, TILE } from '../src/audit/proofs.ts';
import { loadTree, proveEntry } from '../src/audit/verify.ts';
import type { Archive } from '../src/cli/archive.ts';
import { allow } from '../src/catalog/migrations/guards.ts';
import { initTestArchive, openTestArchive, releaseTestArchivesUnder } from './helpers/catalog.ts';

const ENTRIES = 4 * TILE + 389;

describe('inclusion proofs from the catalog', () => {
  let root: string;
  let a: Archive;
  let tree: MerkleTree;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-proofs-'));
    const dir = join(root, 'data');
    await initTestArchive(dir);
    a = await openTestArchive(dir);
    await a.db.transaction().execute(async (trx) => {
      for (let i = 1; i <= ENTRIES; i++) {
        await a.audit.record({ action: 'recording.played', actor: { type: 'user', id: `u${i % 13}`, role: 'clinician' }, outcome: 'success', object: { type: 'recording', id: (i % 41).toString(16).padStart(32, '0') }, careUnit: 'unit-a', details: { start: i, end: i + 10 } }, trx);
      }
    });
    await createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin: logOrigin(a.keys.archiveRecipient), witnessDir: `${dir}-witness` }).checkpoint();
    tree = (await loadTree(a.db, [])).tree;
    assert.equal(tree.size, ENTRIES + 0, 'every event is in the tree');
  });
  after(async () => {
    await a.close();
    await releaseTestArchivesUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('equal the in-memory tree\'s proofs at every kind of index and size', async () => {
    const sizes = [1, 2, 3, 7, TILE - 1, TILE, TILE + 1, 2 * TILE, 3 * TILE + 5, 4 * TILE, ENTRIES];
    for (const size of sizes) {
      const indexes = new Set([0, size - 1, Math.floor(size / 2), Math.min(size - 1, TILE - 1), Math.min(size - 1, TILE), Math.min(size - 1, 3 * TILE + 2)]);
      for (const index of indexes) {
        const got = await catalogInclusionProof(a.db, index, size);
        assert.deepEqual(got.map((h) => h.toString('hex')), tree.inclusionProof(index, size).map((h) => h.toString('hex')), `index ${index} of ${size}`);
      }
    }
  });

  it('proveEntry answers with a proof that verifies against the checkpoint\'s root, and none for an entry that does not exist', async () => {
    for (const seq of [1, Math.floor(ENTRIES / 2), TILE + 1, ENTRIES]) {
      const p = (await proveEntry(a.db, seq))!;
      assert.equal(p.size, tree.size);
      assert.ok(verifyInclusion(Buffer.from(p.leafHash, 'hex'), p.index, p.size!, p.proof!.map((h) => Buffer.from(h, 'hex')), Buffer.from(p.rootHash!, 'hex')), `entry ${seq}`);
    }
    assert.equal(await proveEntry(a.db, ENTRIES + 50), null);
    assert.equal(await proveEntry(a.db, 0), null);
    // An entry newer than the latest checkpoint: its place and leaf, no proof yet.
    await a.audit.record({ action: 'recording.played', actor: { type: 'user', id: 'u1', role: 'clinician' }, outcome: 'success' });
    const fresh = (await proveEntry(a.db, ENTRIES + 1))!;
    assert.deepEqual({ index: fresh.index, checkpoint: fresh.checkpoint }, { index: ENTRIES, checkpoint: null });
    assert.equal(fresh.leafHash, (await loadTree(a.db, [])).tree.leaf(ENTRIES).toString('hex'));
    // Taken out again, so that the next test starts from the checkpointed log.
    await allow(a.db as Kysely<unknown>, 'audit_events', 'DELETE');
    await sql`DELETE FROM audit_events WHERE seq = ${ENTRIES + 1}`.execute(a.db);
  });

  it('a log with a gap is proved by rebuilding the tree: the positions after the gap move', async () => {
    await allow(a.db as Kysely<unknown>, 'audit_events', 'DELETE');
    await sql`DELETE FROM audit_events WHERE seq = 10`.execute(a.db);
    const p = (await proveEntry(a.db, 20))!;
    assert.equal(p.index, 18, 'the twentieth entry is now the nineteenth leaf');
    // The only checkpoint covers more entries than the log now has: no proof in it, and no crash.
    assert.equal(p.checkpoint, null);
    assert.equal(p.leafHash, tree.leaf(19).toString('hex'), 'the entry itself is unchanged');
  });
});
