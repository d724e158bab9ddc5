// Several stateless nodes over one PostgreSQL catalog and one S3-compatible store (the
// scale-out setup), each a real `callvault serve` process with its own data directory (the same
// keys). One node is killed (SIGKILL) in the middle of live calls: its calls are adopted exactly
// once by the survivors, up to their last acknowledged byte, and their clients go on with them
// on another node (tus resume); the calls on the other nodes never notice.
import assert from 'node:assert/strict';
import { cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { initArchive, openArchive, type Archive } from '../src/cli/archive.ts';
import { makeRawG711 } from '../src/ingest/g711.ts';
import { startTestS3, type TestS3, TEST_S3_ENV, testBucketUrl } from '../src/store/test-s3-server.ts';
import { decryptedAudio } from './helpers/archive.ts';
import { type CliProcess, startServing, tempRoot } from './helpers/cli.ts';
import { createTestDatabase, dropTestDatabase } from './helpers/catalog.ts';
import { metaHeader, recordingIdOf, tusCreate, tusHead, tusPatch } from './helpers/tus.ts';

const RAW = { startedAt: '2026-11-25T09:00:00Z', direction: 'inbound', careUnit: 'unit-a', codec: 'pcmu', sampleRate: '8000', channels: '1' };
const PIECE = 8000; // one second of G.711

interface Node {
  name: string;
  url: string;
  proc: CliProcess;
}

interface Call {
  id: string;
  audio: Buffer;
  sent: number;
  node: Node;
}

describe('several nodes over one catalog and one store', () => {
  let root: string;
  let s3: TestS3;
  let databaseUrl: string;
  let blobUrl: string;
  let key: string;
  let env: Record<string, string>;
  const nodes: Node[] = [];
  const saved = { ...process.env };

  async function startNode(name: string): Promise<Node> {
    const dir = join(root, name);
    await cp(join(root, 'origin'), dir, { recursive: true }); // each node its own data directory, the same keys
    const proc = await startServing(['serve', '--data', dir, '--node-id', name], { env });
    const node = { name, url: proc.url, proc };
    nodes.push(node);
    return node;
  }

  async function openCatalog(): Promise<Archive> {
    return openArchive(join(root, 'origin'), { databaseUrl, blobUrl });
  }

  async function send(c: Call, seconds: number, to: Node = c.node): Promise<void> {
    for (let i = 0; i < seconds; i++) {
      const piece = c.audio.subarray(c.sent, c.sent + PIECE);
      const res = await tusPatch(to.url, key, c.id, c.sent, piece);
      assert.equal(res.status, 204, await res.text());
      assert.equal(res.headers.get('upload-offset'), String(c.sent + piece.length));
      c.sent += piece.length;
    }
  }

  before(async () => {
    root = await tempRoot('callvault-nodes-');
    s3 = await startTestS3();
    databaseUrl = await createTestDatabase();
    blobUrl = testBucketUrl(s3, 'nodes');
    // The AWS SDK's standard variables, as an operator would set them (and no instance metadata lookups).
    const aws = { ...TEST_S3_ENV };
    Object.assign(process.env, aws);
    env = { ...aws, CALLVAULT_DATABASE_URL: databaseUrl, CALLVAULT_BLOB_URL: blobUrl, CALLVAULT_NODE_LEASE_SECONDS: '2', CALLVAULT_LOG_LEVEL: 'warn' };
    await initArchive(join(root, 'origin'), { databaseUrl, blobUrl });
    const a = await openCatalog();
    try {
      key = (await a.apiKeys.create({ name: 'pbx', scope: 'ingest', actor: { type: 'operator', id: 'test' } })).token;
    } finally {
      await a.close();
    }
  });

  after(async () => {
    for (const n of nodes) n.proc.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.proc.exited));
    process.env = saved;
    await dropTestDatabase(databaseUrl);
    await s3.close();
    await rm(root, { recursive: true, force: true });
  });

  it('a node killed mid-call: its calls are adopted once, go on elsewhere, and end byte for byte; the others never notice', async () => {
    const [a, b, c] = [await startNode('node-a'), await startNode('node-b'), await startNode('node-c')];
    const calls: Call[] = [];
    for (const [i, node] of [a, a, a, a, a, a, b, b, c, c].entries()) {
      const created = await tusCreate(node.url, key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader(RAW) });
      assert.equal(created.status, 201, await created.text());
      calls.push({ id: recordingIdOf(created.headers.get('location')!), audio: makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 12, hz: 200 + 40 * i }), sent: 0, node });
    }
    await Promise.all(calls.map((call) => send(call, 5)));

    // While its node lives, another node refuses to touch a call: 423, and the client retries.
    const onA = calls.filter((call) => call.node === a);
    const busy = await tusHead(b.url, key, onA[0]!.id);
    assert.equal(busy.status, 423);
    assert.equal(busy.headers.get('retry-after'), '1');
    assert.equal((await tusPatch(c.url, key, onA[0]!.id, onA[0]!.sent, onA[0]!.audio.subarray(onA[0]!.sent, onA[0]!.sent + 10))).status, 423);

    a.proc.child.kill('SIGKILL');
    assert.equal((await a.proc.exited).signal, 'SIGKILL');
    // The calls on the other nodes go on meanwhile.
    await Promise.all(calls.filter((call) => call.node !== a).map((call) => send(call, 2)));

    // A's clients come back through the others (as behind a load balancer), retrying on 423.
    for (const [i, call] of onA.entries()) {
      const to = i % 2 === 0 ? b : c;
      let head: Response | undefined;
      for (let tries = 0; tries < 100; tries++) {
        head = await tusHead(to.url, key, call.id);
        if (head.status !== 423) break;
        await sleep(100);
      }
      assert.equal(head!.status, 200, 'adopted once the node\'s lease ran out');
      assert.equal(head!.headers.get('upload-offset'), String(call.sent), 'every acknowledged byte is there');
      call.node = to;
    }
    // Every call goes to its end: the length is given with the last piece.
    await Promise.all(calls.map(async (call) => {
      await send(call, 2);
      const last = call.audio.subarray(call.sent);
      const res = await tusPatch(call.node.url, key, call.id, call.sent, last, { 'upload-length': String(call.audio.length) });
      assert.equal(res.status, 204, await res.text());
      call.sent += last.length;
    }));

    const archive = await openCatalog();
    try {
      for (const call of calls) {
        const r = await archive.recordings.get(call.id);
        assert.ok(r, `call ${call.id} is filed`);
        assert.deepEqual(JSON.parse(r.flags), onA.includes(call) ? ['resumed_after_crash'] : []);
        assert.equal(r.plaintext_size, call.audio.length);
        assert.deepEqual(await decryptedAudio(archive, call.id), call.audio, 'the same call, byte for byte, across the nodes');
      }
      // Adopted exactly once, though two nodes were looking for work; nothing is left in flight.
      const recovered = await archive.db.selectFrom('audit_events').select('object_id').where('action', '=', 'ingest.recovered').execute();
      assert.deepEqual(recovered.map((e) => e.object_id).sort(), onA.map((call) => call.id).sort());
      const resumed = await archive.db.selectFrom('audit_events').select('object_id').where('action', '=', 'ingest.resumed').execute();
      assert.deepEqual(resumed.map((e) => e.object_id).sort(), onA.map((call) => call.id).sort());
      assert.deepEqual(await archive.db.selectFrom('uploads').select('id').execute(), []);
      assert.deepEqual(await archive.db.selectFrom('ingest_journal').select('seq').where('node_id', '=', 'node-a').execute(), [], 'the dead node\'s journal rows went with its calls');
      const dead = await archive.db.selectFrom('ingest_nodes').selectAll().where('id', '=', 'node-a').executeTakeFirstOrThrow();
      assert.notEqual(dead.stopped_at, null, 'the dead node is fenced off');
      assert.equal(dead.clean, 0);
    } finally {
      await archive.close();
    }
  });
});
