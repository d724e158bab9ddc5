// Adopting the calls of a node that is gone, at the edges: a call filed early in the batch and
// already going on (reopened) keeps the journal rows its new life writes; a recovery that stops
// half-way (the blob store away) leaves the calls it did not file claimable again, instead of
// held by the adopter, answered 423, until it restarts. The recovery itself is stood in for here
// (the end-to-end path is in multi-node.test.ts); the catalog is the real one.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAdoption } from '../src/ingest/adoption.ts';
import type { RecoveryReport, RecoverySource } from '../src/ingest/recovery.ts';
import type { Archive } from '../src/cli/archive.ts';
import { initTestArchive, openTestArchive, releaseTestArchivesUnder } from './helpers/catalog.ts';

describe('adoption of a dead node\'s calls', () => {
  let root: string;
  let a: Archive;
  let n = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-adoption-'));
    await initTestArchive(join(root, 'data'));
    a = await openTestArchive(join(root, 'data'));
  });
  after(async () => {
    await a.close();
    await releaseTestArchivesUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  /** A node that died (stopped long ago) with one call in flight and two journal rows for it. */
  async function deadNodeWithACall(): Promise<{ node: string; id: string }> {
    const node = `dead-${n}`;
    const id = String(n++).padStart(32, 'd');
    const t = Date.now() - 3_600_000;
    await a.db.insertInto('ingest_nodes').values({ id: node, incarnation: 'x', started_at: t, seen_at: t, stopped_at: t, clean: 0 }).execute();
    await a.db.insertInto('uploads').values({
      id, key_id: 'k', created_at: t, length: null, header: new Uint8Array(1), payload_prefix: new Uint8Array(0), blob_key: id.replace(/d/g, 'b'),
      codec: 'pcmu', sample_rate: 8000, channels: 1, external_call_id: null, started_at: t, direction: 'inbound', care_unit: 'unit-a', agent_id: null,
      caller_sealed: null, callee_sealed: null, caller_index: null, callee_index: null, resumes_recording: 0, node_id: node,
    } as never).execute();
    for (const gen of [1, 2]) await a.db.insertInto('ingest_journal').values({ node_id: node, gen, upload_id: id, record: Buffer.from('old') } as never).execute();
    return { node, id };
  }

  const rowsOf = async (id: string) => (await a.db.selectFrom('ingest_journal').select(['node_id', 'record']).where('upload_id', '=', id).execute())
    .map((r) => `${r.node_id}:${Buffer.from(r.record).toString()}`);

  it('keeps the rows a call writes once it goes on, filed early in the batch and reopened meanwhile', async () => {
    const { id } = await deadNodeWithACall();
    const recover = async (src: RecoverySource): Promise<RecoveryReport> => {
      for await (const _ of src.records) { /* read, as recovery does, before filing anything */ }
      // Filed; its client comes back at once and the call goes on: a base record of its new life.
      await a.db.deleteFrom('uploads').where('id', '=', id).execute();
      await a.db.insertInto('ingest_journal').values({ node_id: 'adopter', gen: 1, upload_id: id, record: Buffer.from('new') } as never).execute();
      return { recovered: [{ id, bytes: 3, flags: ['truncated_by_crash'] }], dropped: [], kept: [] };
    };
    const report = await createAdoption({ db: a.db, nodeId: 'adopter', leaseMs: 1000, recover }).adopt();
    assert.deepEqual(report.recovered.map((r) => r.id), [id]);
    assert.deepEqual(await rowsOf(id), ['adopter:new'], 'the rows recovery read are gone, the reopened call\'s own are kept');
  });

  it('a recovery that stops half-way leaves the calls it did not file claimable again, by any node', async () => {
    const { node, id } = await deadNodeWithACall();
    const failing = async (src: RecoverySource): Promise<RecoveryReport> => {
      for await (const _ of src.records) { /* read */ }
      throw new Error('the blob store did not answer');
    };
    await assert.rejects(createAdoption({ db: a.db, nodeId: 'adopter', leaseMs: 1000, recover: failing }).adopt(), /did not answer/);
    const row = await a.db.selectFrom('uploads').select('node_id').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.node_id, node, 'handed back to the node that is gone, not held by the adopter');
    assert.deepEqual(await rowsOf(id), [`${node}:old`, `${node}:old`], 'its journal is untouched');
    // The next round, on another node, files it.
    const filed: string[] = [];
    const recover = async (src: RecoverySource): Promise<RecoveryReport> => {
      for await (const _ of src.records) { /* read */ }
      for (const r of src.rows) {
        await a.db.deleteFrom('uploads').where('id', '=', r.id).execute();
        filed.push(r.id);
      }
      return { recovered: filed.map((f) => ({ id: f, bytes: 3, flags: [] })), dropped: [], kept: [] };
    };
    await createAdoption({ db: a.db, nodeId: 'other', leaseMs: 1000, recover }).adopt();
    assert.deepEqual(filed, [id]);
    assert.deepEqual(await rowsOf(id), []);
  });
});
