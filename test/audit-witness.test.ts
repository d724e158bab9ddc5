// The witness of audit checkpoints, as a directory and as an S3 bucket (a real S3-compatible
// server on loopback): add-only (the same bytes again are fine, other bytes are refused and the
// first kept), checkpoints land there and `audit verify` checks them (clean, rolled back,
// forged), an outage loses nothing and the witness catches up, and the server and the CLI use
// the configured witness.
import assert from 'node:assert/strict';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sql, type Kysely } from 'kysely';
import { auditVerifierKey, createCheckpointer, logOrigin } from '../src/audit/checkpointer.ts';
import { verifyAuditLog } from '../src/audit/verify.ts';
import { createDirWitness, WitnessConflictError, WitnessError, type Witness } from '../src/audit/witness.ts';
import { createS3Witness } from '../src/audit/witness-s3.ts';
import type { Archive } from '../src/cli/archive.ts';
import { allow } from '../src/catalog/migrations/guards.ts';
import { startTestS3, TEST_BUCKET, TEST_CREDENTIALS, type TestS3, TEST_S3_ENV } from '../src/store/test-s3-server.ts';
import { startTestServer } from './helpers/archive.ts';
import { copyTestArchive, initTestArchive, openTestArchive, releaseTestArchive, releaseTestArchivesUnder } from './helpers/catalog.ts';
import { runCli } from './helpers/cli.ts';
import { fileEventsOf } from './helpers/strace.ts';

const AWS_ENV = { ...TEST_S3_ENV };

let root: string;
let s3: TestS3;
let raw: S3Client;
let n = 0;
const saved = { ...process.env };

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'callvault-witness-'));
  s3 = await startTestS3();
  raw = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: TEST_CREDENTIALS });
  // The AWS SDK's standard variables, as an operator would set them, for what the server opens itself.
  Object.assign(process.env, AWS_ENV);
});
after(async () => {
  process.env = saved;
  raw.destroy();
  await releaseTestArchivesUnder(root);
  await s3.close();
  await rm(root, { recursive: true, force: true });
});

const witnessUrl = (prefix: string, endpoint = s3.endpoint) => `s3://${TEST_BUCKET}/${prefix}?endpoint=${encodeURIComponent(endpoint)}&forcePathStyle=true`;
const s3Witness = (prefix: string, endpoint = s3.endpoint, bucket = TEST_BUCKET) => createS3Witness({
  bucket, prefix: `${prefix}/`, endpoint, region: 'us-east-1', forcePathStyle: true, credentials: TEST_CREDENTIALS, retryMs: 400, baseDelayMs: 20, maxDelayMs: 100,
});

/** Every object name under `prefix/`, as the server lists them. */
async function keysUnder(prefix: string): Promise<string[]> {
  const page = await raw.send(new ListObjectsV2Command({ Bucket: TEST_BUCKET, Prefix: `${prefix}/` }));
  return (page.Contents ?? []).map((o) => o.Key!).sort();
}

const getObject = async (key: string) => Buffer.from(await (await raw.send(new GetObjectCommand({ Bucket: TEST_BUCKET, Key: key }))).Body!.transformToByteArray());
const putObject = (key: string, body: Buffer | string) => raw.send(new PutObjectCommand({ Bucket: TEST_BUCKET, Key: key, Body: body }));

async function all(w: Witness): Promise<{ name: string; note: string }[]> {
  const out = [];
  for await (const { name, note } of w.list()) out.push({ name, note: note.toString() });
  return out;
}

const record = async (a: Archive, count: number) => {
  for (let i = 0; i < count; i++) await a.audit.record({ action: 'auth.logout', actor: { type: 'system', id: 'test' }, outcome: 'success', details: { i } });
};

/** A fresh archive with `events` audit events beyond those of its creation. */
async function freshArchive(events: number): Promise<{ dir: string; a: Archive; vkey: string; origin: string }> {
  const dir = join(root, `archive-${n++}`);
  await initTestArchive(dir);
  const a = await openTestArchive(dir);
  await record(a, events);
  const origin = logOrigin(a.keys.archiveRecipient);
  return { dir, a, origin, vkey: auditVerifierKey(origin, a.keys.auditSigningKey()) };
}

for (const [kind, open] of [
  ['directory', async () => createDirWitness(join(root, `witness-${n++}`))],
  ['S3 bucket', () => s3Witness(`witness-${n++}`)],
] as const) {
  describe(`a witness in a ${kind}`, () => {
    it('adds checkpoints and lists them in size order under their names', async () => {
      const w = await open();
      assert.deepEqual(await w.sizes(), []);
      await w.add(120, 'note of 120\n');
      await w.add(7, 'note of 7\n');
      assert.deepEqual((await w.sizes()).sort((x, y) => x - y), [7, 120]);
      assert.deepEqual(await all(w), [
        { name: 'checkpoint-000000000007.txt', note: 'note of 7\n' },
        { name: 'checkpoint-000000000120.txt', note: 'note of 120\n' },
      ]);
      await w.close();
    });

    it('takes the same bytes again (nodes race to copy one checkpoint), refuses other bytes and keeps the first', async () => {
      const w = await open();
      await w.add(5, 'the real note\n');
      await w.add(5, 'the real note\n');
      await assert.rejects(w.add(5, 'a forged note\n'), (e: Error) => e instanceof WitnessConflictError && /already holds a different checkpoint of size 5/.test(e.message));
      assert.deepEqual(await all(w), [{ name: 'checkpoint-000000000005.txt', note: 'the real note\n' }]);
      await w.close();
    });
  });
}

describe('the directory witness on disk', () => {
  it('before the first checkpoint, a witness directory not made yet verifies clean; once the catalog holds checkpoints, its absence is a problem', async () => {
    const { a, origin, vkey } = await freshArchive(4);
    try {
      const witnessDir = join(root, `not-yet-${n++}`, 'witness');
      assert.deepEqual((await verifyAuditLog({ db: a.db, vkey, witnessDir })).problems, []);
      await createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witnessDir }).checkpoint();
      await rm(witnessDir, { recursive: true, force: true });
      const r = await verifyAuditLog({ db: a.db, vkey, witnessDir });
      assert.ok(r.problems.some((p) => p.includes(`the witness ${witnessDir} cannot be read (ENOENT)`)), r.problems.join('\n'));
    } finally {
      await a.close();
    }
  });

  it('writes each checkpoint as a new read-only file, and a missing directory has no sizes yet but cannot be listed', async () => {
    const dir = join(root, 'on-disk', 'witness');
    const w = createDirWitness(dir);
    assert.deepEqual(await w.sizes(), []);
    await assert.rejects(all(w), (e: Error) => e instanceof WitnessError && e.message.includes(`the witness ${dir} cannot be read (ENOENT)`));
    await w.add(3, 'three\n');
    assert.deepEqual(await readdir(dir), ['checkpoint-000000000003.txt']);
    assert.equal((await stat(join(dir, 'checkpoint-000000000003.txt'))).mode & 0o777, 0o400);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
  });

  it('makes each checkpoint durable before the add returns: the file synced after its bytes, then the directory holding its name, and the new directory\'s own name', async () => {
    // Without this, a power cut just after a checkpoint could leave an empty file in the witness:
    // a false alarm at every later verify, and a conflict when the checkpoint is copied again.
    const dir = join(root, 'synced', 'deeper', 'witness');
    const script = `import { createDirWitness } from ${JSON.stringify(new URL('../src/audit/witness.ts', import.meta.url).href)};
      await createDirWitness(process.argv[1]).add(7, 'seven\\n');`;
    const events = fileEventsOf(script, [dir]);
    const file = join(dir, 'checkpoint-000000000007.txt');
    const at = (e: string) => events.lastIndexOf(e);
    assert.ok(at(`write ${file}`) >= 0, events.join(', '));
    assert.ok(at(`sync ${file}`) > at(`write ${file}`), `the file is synced after its bytes are written: ${events.join(', ')}`);
    assert.ok(at(`sync ${dir}`) > at(`sync ${file}`), `then the directory that holds its name: ${events.join(', ')}`);
    for (const parent of [join(root, 'synced'), join(root, 'synced', 'deeper')]) assert.ok(at(`sync ${parent}`) >= 0, `and ${parent}, which holds the name of a directory made for it: ${events.join(', ')}`);
  });
});

/**
 * A loopback proxy in front of the test server that does what AWS S3 does with If-None-Match: *
 * when another node's copy lands between our look and our write: the first GET of an object that
 * exists answers 404 (not there yet), and a conditional PUT of it then answers 412.
 */
async function racingProxy(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const upstream = new URL(s3.endpoint);
  const hidden = new Set<string>();
  const answer = (res: ServerResponse, status: number, code: string) => {
    res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`);
  };
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const object = path.split('?')[0]!; // the SDK adds ?x-id=GetObject, ?x-id=PutObject
    const isObject = object.includes('/checkpoint-');
    if (req.method === 'PUT' && isObject && req.headers['if-none-match'] === '*' && hidden.has(object)) {
      req.resume().on('end', () => answer(res, 412, 'PreconditionFailed'));
      return;
    }
    const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path, headers: req.headers }, (r) => {
      if (req.method === 'GET' && isObject && r.statusCode === 200 && !hidden.has(object)) {
        hidden.add(object);
        r.resume();
        answer(res, 404, 'NoSuchKey');
        return;
      }
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('the S3 witness against the service', () => {
  it('a conditional write refused (412) compares what is there: the same bytes are fine, other bytes are a conflict', async () => {
    const prefix = `race-${n++}`;
    const first = await s3Witness(prefix);
    await first.add(9, 'nine\n');
    await first.add(10, 'ten\n');
    const proxy = await racingProxy();
    const late = await s3Witness(prefix, proxy.endpoint);
    try {
      await late.add(9, 'nine\n');
      await assert.rejects(late.add(10, 'not ten\n'), WitnessConflictError);
      assert.equal((await getObject(`${prefix}/checkpoint-000000000010.txt`)).toString(), 'ten\n', 'never overwritten');
    } finally {
      await late.close();
      await first.close();
      await proxy.close();
    }
  });

  it('refuses a bucket that does not exist, naming it and not the endpoint', async () => {
    await assert.rejects(s3Witness('x', s3.endpoint, 'no-such-bucket'),
      (e: Error) => /the S3 bucket s3:\/\/no-such-bucket\/x\/ does not exist/.test(e.message) && !e.message.includes(String(s3.port)));
  });
});

describe('checkpoints witnessed in an S3 bucket', () => {
  let dir: string;
  let vkey: string;
  const prefix = 'audit-a';

  before(async () => {
    const f = await freshArchive(200);
    ({ dir, vkey } = f);
    const witness = await s3Witness(prefix);
    const cps = createCheckpointer({ db: f.a.db, signingKey: f.a.keys.auditSigningKey(), origin: f.origin, witness });
    const first = await cps.checkpoint();
    await record(f.a, 100);
    const second = await cps.checkpoint();
    assert.equal(second!.size - first!.size, 100);
    await witness.close();
    await f.a.close();
  });

  /** `audit verify` of a copy of the archive, its catalog tampered by `attack`, against the witness under `at`. */
  async function verifyCopy(at: string, attack: (db: Archive['db']) => Promise<void> = async () => undefined) {
    const copy = join(root, `copy-${n++}`);
    await copyTestArchive(dir, copy);
    const a = await openTestArchive(copy);
    const witness = await s3Witness(at);
    try {
      for (const table of ['audit_events', 'audit_checkpoints']) for (const op of ['UPDATE', 'DELETE'] as const) await allow(a.db as Kysely<unknown>, table, op);
      await attack(a.db);
      return await verifyAuditLog({ db: a.db, vkey, witness });
    } finally {
      await witness.close();
      await a.close();
    }
  }

  it('land in the bucket under the witness prefix, one object each', async () => {
    const keys = await keysUnder(prefix);
    assert.equal(keys.length, 2);
    for (const k of keys) assert.match(k, /^audit-a\/checkpoint-\d{12}\.txt$/);
    assert.match((await getObject(keys[0]!)).toString(), /^callvault\.audit\/[0-9a-f]{16}\n\d+\n/);
  });

  it('positive control: the log verifies clean against them', async () => {
    const r = await verifyCopy(prefix);
    assert.deepEqual(r.problems, []);
    assert.equal(r.witnessed, 2);
    assert.equal(r.checkpoints, 2);
  });

  it('a rolled-back catalog is found against them', async () => {
    const r = await verifyCopy(prefix, async (db) => {
      const { size } = await db.selectFrom('audit_checkpoints').select('size').orderBy('size', 'desc').executeTakeFirstOrThrow();
      await sql`DELETE FROM audit_events WHERE seq > ${size - 50}`.execute(db);
      await sql`DELETE FROM audit_checkpoints WHERE size = ${size}`.execute(db);
    });
    assert.ok(r.problems.some((p) => /rolled back: the witness holds size \d+/.test(p)), r.problems.join('\n'));
    assert.ok(r.problems.some((p) => /truncated/.test(p)), r.problems.join('\n'));
  });

  it('an altered witness object is found', async () => {
    const forged = `forged-${n++}`;
    for (const k of await keysUnder(prefix)) await putObject(k.replace(`${prefix}/`, `${forged}/`), await getObject(k));
    const [victim] = await keysUnder(forged);
    const text = (await getObject(victim!)).toString();
    const sigLine = text.split('\n').find((l) => l.startsWith('\u2014 '))!;
    const sig = Buffer.from(sigLine.split(' ')[2]!, 'base64');
    sig[10]! ^= 1;
    await putObject(victim!, text.replace(sigLine, `${sigLine.split(' ').slice(0, 2).join(' ')} ${sig.toString('base64')}`));
    const r = await verifyCopy(forged);
    assert.ok(r.problems.some((p) => p.startsWith('witness checkpoint-')), r.problems.join('\n'));
  });

  it('a witness that cannot be read is a problem named without the endpoint', async () => {
    const copy = join(root, `copy-${n++}`);
    await copyTestArchive(dir, copy);
    const a = await openTestArchive(copy);
    const witness = await s3Witness(prefix);
    await s3.stop();
    try {
      const r = await verifyAuditLog({ db: a.db, vkey, witness });
      assert.ok(r.problems.some((p) => /^the witness s3:\/\/callvault-test\/audit-a\/ cannot be read \(the object store did not accept a listing/.test(p)), r.problems.join('\n'));
      assert.ok(!r.problems.join('\n').includes(String(s3.port)));
    } finally {
      await s3.start();
      await witness.close();
      await a.close();
    }
  });
});

describe('what audit verify finds between the catalog and the witness', () => {
  /** An archive with four checkpoints (sizes growing by 3), in the catalog and a witness directory. */
  async function checkpointed(): Promise<{ a: Archive; vkey: string; witnessDir: string; sizes: number[]; cps: ReturnType<typeof createCheckpointer> }> {
    const { a, origin, vkey } = await freshArchive(3);
    const witnessDir = join(root, `compare-${n++}`);
    const cps = createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witnessDir });
    for (let i = 0; i < 4; i++) {
      await record(a, 3);
      await cps.checkpoint();
    }
    const sizes = (await a.db.selectFrom('audit_checkpoints').select('size').orderBy('size').execute()).map((r) => r.size);
    assert.equal(sizes.length, 4);
    assert.deepEqual((await verifyAuditLog({ db: a.db, vkey, witnessDir })).problems, [], 'positive control');
    return { a, vkey, witnessDir, sizes, cps };
  }

  it('a witness emptied, or one file of it deleted: the catalog checkpoints it lacks are named', async () => {
    const { a, vkey, witnessDir, sizes } = await checkpointed();
    try {
      const name = (size: number) => join(witnessDir, `checkpoint-${String(size).padStart(12, '0')}.txt`);
      await rm(name(sizes[1]!));
      let r = await verifyAuditLog({ db: a.db, vkey, witnessDir });
      assert.ok(r.problems.some((p) => p.includes(`1 catalog checkpoint(s) are not in the witness (sizes ${sizes[1]})`)), r.problems.join('\n'));
      for (const size of sizes) await rm(name(size), { force: true });
      // (The latest, signed a moment ago, may still be on its way there: it is named once it is overdue.)
      r = await verifyAuditLog({ db: a.db, vkey, witnessDir });
      assert.ok(r.problems.some((p) => p.includes(`3 catalog checkpoint(s) are not in the witness (sizes ${sizes.slice(0, 3).join(', ')})`)), r.problems.join('\n'));
      r = await verifyAuditLog({ db: a.db, vkey, witnessDir, now: () => Date.now() + 10 * 60_000 });
      assert.ok(r.problems.some((p) => p.includes(`4 catalog checkpoint(s) are not in the witness (sizes ${sizes.join(', ')})`)), r.problems.join('\n'));
    } finally {
      await a.close();
    }
  });

  it('a new checkpoint not copied yet is no problem; one long left uncopied is', async () => {
    const { a, vkey, witnessDir, sizes } = await checkpointed();
    try {
      const latest = join(witnessDir, `checkpoint-${String(sizes[3]).padStart(12, '0')}.txt`);
      await rm(latest);
      assert.deepEqual((await verifyAuditLog({ db: a.db, vkey, witnessDir })).problems, []);
      const later = await verifyAuditLog({ db: a.db, vkey, witnessDir, now: () => Date.now() + 10 * 60_000 });
      assert.ok(later.problems.some((p) => p.includes(`(sizes ${sizes[3]})`)), later.problems.join('\n'));
    } finally {
      await a.close();
    }
  });

  it('a checkpoint removed from the catalog but kept by the witness, and a witness file renamed, are found', async () => {
    const { a, vkey, witnessDir, sizes } = await checkpointed();
    try {
      await allow(a.db as unknown as Kysely<unknown>, 'audit_checkpoints', 'DELETE');
      await a.db.deleteFrom('audit_checkpoints').where('size', '=', sizes[1]!).execute();
      let r = await verifyAuditLog({ db: a.db, vkey, witnessDir });
      assert.ok(r.problems.some((p) => p.includes(`the catalog lacks checkpoint(s) the witness holds (sizes ${sizes[1]})`)), r.problems.join('\n'));
      const { rename } = await import('node:fs/promises');
      await rename(join(witnessDir, `checkpoint-${String(sizes[2]).padStart(12, '0')}.txt`), join(witnessDir, `checkpoint-${String(sizes[3]! + 100).padStart(12, '0')}.txt`));
      r = await verifyAuditLog({ db: a.db, vkey, witnessDir });
      assert.ok(r.problems.some((p) => p.includes(`holds the checkpoint of size ${sizes[2]} (renamed)`)), r.problems.join('\n'));
    } finally {
      await a.close();
    }
  });

  it('a checkpoint signed and witnessed while verify runs is no rollback', async () => {
    const { a, vkey, witnessDir, cps } = await checkpointed();
    try {
      const dir = createDirWitness(witnessDir);
      // The server's timer signs (and witnesses) a checkpoint just as verify reads the witness.
      const racing: Witness = {
        ...dir,
        async *list() {
          await record(a, 2);
          await cps.checkpoint();
          yield* dir.list();
        },
      };
      const r = await verifyAuditLog({ db: a.db, vkey, witness: racing });
      assert.deepEqual(r.problems, []);
      assert.equal(r.checkpoints, 5);
    } finally {
      await a.close();
    }
  });
});

describe('a witness that is away', () => {
  it('S3 outage: the catalog keeps every checkpoint, and the next round copies all it missed', async () => {
    const { a, origin, vkey } = await freshArchive(10);
    const witness = await s3Witness(`outage-${n++}`);
    try {
      const cps = createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witness });
      const first = await cps.checkpoint();
      await s3.stop();
      try {
        for (const round of [1, 2]) {
          await record(a, 10);
          await assert.rejects(cps.checkpoint(), (e: Error) => e instanceof WitnessError && /could not be copied to the witness s3:\/\/callvault-test\/outage-\d+\/ \(the object store did not accept/.test(e.message)
            && !e.message.includes(String(s3.port)) && !e.message.includes(TEST_CREDENTIALS.secretAccessKey), `round ${round}`);
        }
      } finally {
        await s3.start();
      }
      const sizes = (await a.db.selectFrom('audit_checkpoints').select('size').orderBy('size').execute()).map((r) => r.size);
      assert.deepEqual(sizes, [first!.size, first!.size + 10, first!.size + 20], 'signed and kept in the catalog throughout');
      assert.equal(await cps.checkpoint(), null, 'nothing new to sign');
      assert.deepEqual((await witness.sizes()).sort((x, y) => x - y), sizes, 'and the witness caught up with both');
      const r = await verifyAuditLog({ db: a.db, vkey, witness });
      assert.deepEqual(r.problems, []);
      assert.equal(r.witnessed, 3);
    } finally {
      await witness.close();
      await a.close();
    }
  });

  it('directory that cannot be written: a later run copies every checkpoint it lacks', async () => {
    const { a, origin, vkey } = await freshArchive(10);
    try {
      const blocker = join(root, `blocked-${n++}`);
      await writeFile(blocker, 'not a directory');
      const witnessDir = join(blocker, 'witness');
      const deps = { db: a.db, signingKey: a.keys.auditSigningKey(), origin, witnessDir };
      const blocked = createCheckpointer(deps);
      await assert.rejects(blocked.checkpoint(), (e: Error) => e instanceof WitnessError && e.message.includes(`the witness ${witnessDir} cannot be read (ENOTDIR)`));
      await record(a, 5);
      await assert.rejects(blocked.checkpoint(), WitnessError);
      await rm(blocker);
      assert.equal(await createCheckpointer(deps).checkpoint(), null, 'a new run: nothing new to sign');
      assert.equal((await readdir(witnessDir)).length, 2, 'both copies made');
      assert.deepEqual((await verifyAuditLog({ db: a.db, vkey, witnessDir })).problems, []);
    } finally {
      await a.close();
    }
  });

  it('two nodes copying the same checkpoints to one bucket both succeed', async () => {
    const { a, origin } = await freshArchive(10);
    const prefix = `nodes-${n++}`;
    const [wa, wb] = [await s3Witness(prefix), await s3Witness(prefix)];
    try {
      const deps = { db: a.db, signingKey: a.keys.auditSigningKey(), origin };
      const [x, y] = [createCheckpointer({ ...deps, witness: wa }), createCheckpointer({ ...deps, witness: wb })];
      for (let round = 0; round < 3; round++) {
        await record(a, 3);
        await Promise.all([x.checkpoint(), y.checkpoint()]);
      }
      assert.equal((await keysUnder(prefix)).length, 3);
    } finally {
      await wa.close();
      await wb.close();
      await a.close();
    }
  });
});

describe('the server and the CLI with the witness in S3', () => {
  it('the server witnesses there, and logs a failed copy without secrets or endpoint, keeping it for the next run', async () => {
    const prefix = `server-${n++}`;
    const s = await startTestServer({ CALLVAULT_AUDIT_WITNESS: witnessUrl(prefix) });
    try {
      await record(s.archive, 3);
      assert.ok(await s.running.checkpointer.checkpoint());
      assert.equal((await keysUnder(prefix)).length, 1);
      await record(s.archive, 3);
      await s3.stop();
    } finally {
      // The shutdown checkpoint is signed, and its copy fails while the bucket is away.
      await s.running.close();
      await s3.start();
    }
    const line = s.logs.find((l) => l.includes('copying audit checkpoints to the witness failed'));
    assert.ok(line, s.logs.join(''));
    assert.match(line, /could not be copied to the witness s3:\/\/callvault-test\/server-\d+\//);
    // Searched without the logger's own fields: the port's five digits can turn up in a millisecond time, a pid or a host name.
    const { time: _time, pid: _pid, hostname: _hostname, ...said } = JSON.parse(line) as Record<string, unknown>;
    assert.ok(!JSON.stringify(said).includes(String(s3.port)) && !line.includes(TEST_CREDENTIALS.secretAccessKey), line);
    const sizes = await s.archive.db.selectFrom('audit_checkpoints').select('size').execute();
    assert.equal(sizes.length, 2, 'the shutdown checkpoint is in the catalog');
    await s.archive.close();
    await releaseTestArchive(s.dir);
    await rm(join(s.dir, '..'), { recursive: true, force: true });
  });

  it('audit checkpoint and audit verify use the bucket; verify says where, exits 0 clean and 1 once an object is altered', async () => {
    const { dir, a } = await freshArchive(20);
    await a.close();
    const prefix = `cli-${n++}`;
    const env = { ...AWS_ENV, CALLVAULT_AUDIT_WITNESS: witnessUrl(prefix) };
    const cp = await runCli(['audit', 'checkpoint', '--data', dir], { env });
    assert.equal(cp.code, 0, cp.stderr);
    assert.match(cp.stdout, /signed a checkpoint of \d+ entries/);
    const clean = await runCli(['audit', 'verify', '--data', dir], { env });
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, new RegExp(`1 checkpoints in the catalog, 1 in the witness s3://${TEST_BUCKET}/${prefix}/`));
    const [key] = await keysUnder(prefix);
    await putObject(key!, (await getObject(key!)).toString().replace(/\n\d+\n/, '\n999\n'));
    const bad = await runCli(['audit', 'verify', '--data', dir], { env });
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /FAILED: witness checkpoint-\d{12}\.txt/);
  });

  it('a witness that cannot be used stops a command with a message, never a crash', async () => {
    const { dir, a } = await freshArchive(1);
    await a.close();
    const cases: [string, RegExp][] = [
      ['s3://Not_A_Bucket/x', /the audit witness \(--witness or CALLVAULT_AUDIT_WITNESS\) must name a bucket/],
      ['https://example.org/witness', /the audit witness \(--witness or CALLVAULT_AUDIT_WITNESS\) must start with s3:\/\//],
      [`s3://${TEST_BUCKET}/w?endpoint=${encodeURIComponent('http://198.51.100.7:9000')}`, /endpoint that must be https \(http is accepted only on loopback\)/],
      [witnessUrl('w').replace(TEST_BUCKET, 'no-such-bucket'), /the audit witness: the S3 bucket s3:\/\/no-such-bucket\/w\/ does not exist/],
    ];
    for (const [value, message] of cases) {
      for (const args of [['audit', 'verify', '--data', dir], ['serve', '--data', dir, '--listen', '127.0.0.1:0']]) {
        const r = await runCli(args, { env: { ...AWS_ENV, CALLVAULT_AUDIT_WITNESS: value } });
        assert.equal(r.code, 1, `${args[0]} with ${value}: ${r.stdout}`);
        assert.match(r.stderr, message);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      }
    }
  });
});
