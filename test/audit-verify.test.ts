// The audit log proves its own integrity. In a log of a few thousand entries with signed
// checkpoints (catalog and witness), every kind of tampering is found by `audit verify`,
// each against a positive control that verifies clean: in one pass, and spread over worker
// threads in chunks (small ones here: one that ends exactly at a checkpoint, and one that does not).
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { auditVerifierKey, createCheckpointer, logOrigin } from '../src/audit/checkpointer.ts';
import { signCheckpoint } from '../src/audit/checkpoint.ts';
import { entryLeafHash, PAGE } from '../src/audit/entry.ts';
import { verifyAuditLog, type ParallelOptions, type VerifyReport } from '../src/audit/verify.ts';
import { sqliteDriverOf, type Catalog } from '../src/catalog/db.ts';
import { allow } from '../src/catalog/migrations/guards.ts';
import { copyTestArchive, initTestArchive, openTestArchive, releaseTestArchivesUnder, TEST_CATALOG } from './helpers/catalog.ts';
import { assertRehashedAsAsked, signedAuditLog, type SignedAuditLog } from './helpers/audit-log.ts';
import { runCli } from './helpers/cli.ts';

const ENTRIES = 3000;

const MODES: Array<[string, ParallelOptions]> = [
  ['in one pass', { workers: 0 }],
  ['across two worker threads, chunks of 256 entries', { workers: 2, chunk: 256, thisThread: false }],
  ['across three worker threads, chunks of 4 entries (a checkpoint at a chunk boundary)', { workers: 3, chunk: 4, thisThread: false }],
  ['across this thread and a worker, chunks of 16 entries (as on two cores)', { workers: 1, chunk: 16 }],
];

for (const [mode, parallel] of MODES) describe(`audit verify ${mode}`, () => {
  let root: string;
  let pristine: string;
  let vkey: string;
  let origin: string;
  let n = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-audit-'));
    pristine = join(root, 'pristine');
    await initTestArchive(pristine);
    const a = await openTestArchive(pristine);
    origin = logOrigin(a.keys.archiveRecipient);
    vkey = auditVerifierKey(origin, a.keys.auditSigningKey());
    const cps = createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witnessDir: `${pristine}-witness` });
    const record = (from: number, to: number) => a.db.transaction().execute(async (trx) => {
      for (let i = from; i <= to; i++) {
        await a.audit.record({ action: 'recording.played', actor: { type: 'user', id: `u${i % 17}`, role: 'clinician' }, outcome: 'success', object: { type: 'recording', id: (i % 97).toString(16).padStart(32, '0') }, careUnit: 'unit-a', details: { start: i, end: i + 100 } }, trx);
      }
    });
    // Two checkpoints, at half the log and at its end: catalog and witness both hold them.
    await record(1, ENTRIES / 2);
    assert.equal((await cps.checkpoint())?.size, ENTRIES / 2);
    await record(ENTRIES / 2 + 1, ENTRIES);
    assert.equal((await cps.checkpoint())?.size, ENTRIES);
    await a.close();
  });
  after(async () => {
    await releaseTestArchivesUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  /** The catalog's own guards taken away, as someone with write access to the catalog could. */
  async function unguard(db: Catalog): Promise<void> {
    for (const table of ['audit_events', 'audit_checkpoints']) {
      for (const op of ['UPDATE', 'DELETE'] as const) await allow(db as Kysely<unknown>, table, op);
    }
  }

  /** A fresh copy of the archive (its catalog too) and its witness, tampered by `attack` through the catalog directly. */
  async function tampered(attack: (db: Catalog, dir: string) => void | Promise<void>): Promise<VerifyReport> {
    const dir = join(root, `copy-${n++}`);
    await copyTestArchive(pristine, dir);
    await cp(`${pristine}-witness`, `${dir}-witness`, { recursive: true });
    const a = await openTestArchive(dir);
    try {
      await unguard(a.db);
      await attack(a.db, dir);
      return await verifyAuditLog({ db: a.db, vkey, witnessDir: `${dir}-witness`, parallel });
    } finally {
      await a.close();
    }
  }

  const rehash = async (db: Catalog, seq: number) => {
    const row = await db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
    await db.updateTable('audit_events').set({ leaf_hash: entryLeafHash(row) }).where('seq', '=', seq).execute();
  };

  it('positive control: the untouched log verifies clean', async () => {
    const r = await tampered(() => undefined);
    assert.deepEqual(r.problems, []);
    assert.equal(r.entries, ENTRIES);
    assert.ok(r.checkpoints >= 1 && r.witnessed >= 1);
    assertRehashedAsAsked(r, parallel);
  });

  it('an altered entry is named by its sequence number', async () => {
    const r = await tampered(async (db) => { await sql`UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 1234`.execute(db); });
    assert.ok(r.problems.some((p) => p.startsWith('entry 1234:')), r.problems.join('\n'));
    assert.equal(r.problems.filter((p) => p.startsWith('entry ')).length, 1, 'no other entry named');
  });

  it('an altered entry whose hash was recomputed too breaks the checkpoint', async () => {
    const r = await tampered(async (db) => { await sql`UPDATE audit_events SET outcome = 'denied' WHERE seq = 77`.execute(db); await rehash(db, 77); });
    assert.ok(r.problems.some((p) => /does not match the log/.test(p)), r.problems.join('\n'));
    assert.ok(!r.problems.some((p) => p.startsWith('entry 77:')), 'the entry itself looks consistent');
  });

  it('a deleted entry is found', async () => {
    const r = await tampered(async (db) => { await sql`DELETE FROM audit_events WHERE seq = 999`.execute(db); });
    assert.ok(r.problems.some((p) => /999\.\.999 are missing/.test(p)), r.problems.join('\n'));
    assert.ok(r.problems.some((p) => /does not match the log|truncated/.test(p)));
    assert.equal(r.chunks, 0, 'a log with a gap is checked in one pass, which names the gap');
  });

  it('entries deleted at the very start of the log are named too', async () => {
    const r = await tampered(async (db) => { await sql`DELETE FROM audit_events WHERE seq <= 2`.execute(db); });
    assert.ok(r.problems.some((p) => /entries 1\.\.2 are missing/.test(p)), r.problems.join('\n'));
  });

  it('reordered entries are found', async () => {
    const r = await tampered(async (db) => {
      const { seq: _a, ...a } = await db.selectFrom('audit_events').selectAll().where('seq', '=', 10).executeTakeFirstOrThrow();
      const { seq: _b, ...b } = await db.selectFrom('audit_events').selectAll().where('seq', '=', 11).executeTakeFirstOrThrow();
      await db.updateTable('audit_events').set(b).where('seq', '=', 10).execute();
      await db.updateTable('audit_events').set(a).where('seq', '=', 11).execute();
    });
    assert.ok(r.problems.some((p) => /does not match the log/.test(p)), r.problems.join('\n'));
  });

  it('an inserted entry is found', async () => {
    const r = await tampered(async (db) => {
      const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>=', 2000).orderBy('seq').execute();
      await db.deleteFrom('audit_events').where('seq', '>=', 2000).execute();
      const fake = { ...rows[0]!, actor_id: 'alibi', details: null };
      await db.insertInto('audit_events').values({ ...fake, seq: 2000, leaf_hash: entryLeafHash(fake) }).execute();
      for (const r of rows) await db.insertInto('audit_events').values({ ...r, seq: r.seq + 1 }).execute();
    });
    assert.ok(r.problems.some((p) => /does not match the log/.test(p)), r.problems.join('\n'));
  });

  it('a truncated log is found', async () => {
    const r = await tampered(async (db) => { await sql`DELETE FROM audit_events WHERE seq > 2900`.execute(db); });
    assert.ok(r.problems.some((p) => /truncated/.test(p)), r.problems.join('\n'));
  });

  it('a rolled-back checkpoint (catalog) is found through the witness', async () => {
    const r = await tampered(async (db) => {
      await sql`DELETE FROM audit_events WHERE seq > 2500`.execute(db);
      await sql`DELETE FROM audit_checkpoints`.execute(db);
    });
    assert.ok(r.problems.some((p) => /rolled back/.test(p)), r.problems.join('\n'));
    assert.ok(r.problems.some((p) => /truncated/.test(p)));
  });

  it('a swapped checkpoint row is found', async () => {
    const r = await tampered(async (db) => {
      const { privateKey } = generateKeyPairSync('ed25519');
      const other = signCheckpoint({ origin, size: 10, rootHash: Buffer.alloc(32), privateKey, keyName: origin });
      await sql`UPDATE audit_checkpoints SET note = ${other}`.execute(db);
    });
    assert.ok(r.problems.some((p) => /catalog checkpoint/.test(p)), r.problems.join('\n'));
  });

  it('a forged witness signature is found', async () => {
    const r = await tampered(async (_db, dir) => {
      const wdir = `${dir}-witness`;
      const [f] = await readdir(wdir);
      const text = await readFile(join(wdir, f!), 'utf8');
      const sigLine = text.split('\n').find((l) => l.startsWith('\u2014 '))!;
      const sig = Buffer.from(sigLine.split(' ')[2]!, 'base64');
      sig[10]! ^= 1;
      await writeFile(join(wdir, f!), text.replace(sigLine, `\u2014 ${origin} ${sig.toString('base64')}`));
    });
    assert.ok(r.problems.some((p) => /witness checkpoint-/.test(p)), r.problems.join('\n'));
  });

  if (parallel.workers === 1) it('the command exits non-zero naming the problem, and 0 on a clean log', async () => {
    const clean = await runCli(['audit', 'verify', '--data', pristine]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, new RegExp(`${ENTRIES} entries`));
    const dir = join(root, 'cli-copy');
    await copyTestArchive(pristine, dir);
    await cp(`${pristine}-witness`, `${dir}-witness`, { recursive: true });
    const a = await openTestArchive(dir);
    try {
      await allow(a.db as Kysely<unknown>, 'audit_events', 'UPDATE');
      await sql`UPDATE audit_events SET care_unit = 'elsewhere' WHERE seq = 42`.execute(a.db);
    } finally {
      await a.close();
    }
    const bad = await runCli(['audit', 'verify', '--data', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /FAILED: entry 42:/);
    const proof = await runCli(['audit', 'proof', '--data', pristine, '17']);
    assert.equal(proof.code, 0, proof.stderr);
    const { verifyInclusion } = await import('../src/audit/merkle.ts');
    const p = JSON.parse(proof.stdout) as { index: number; size: number; leafHash: string; rootHash: string; proof: string[] };
    assert.ok(verifyInclusion(Buffer.from(p.leafHash, 'hex'), p.index, p.size, p.proof.map((h) => Buffer.from(h, 'hex')), Buffer.from(p.rootHash, 'hex')));
  });
});

// A server verifies its own log on request (POST /api/v1/audit/verify): meanwhile its thread must
// go on answering. SQLite's driver is synchronous, so a page read never leaves the microtask
// queue: the one pass gives the event loop a turn after each page.
if (TEST_CATALOG === 'sqlite') describe('audit verify beside a server', () => {
  let log: SignedAuditLog;
  before(async () => {
    const rows = Array.from({ length: 3 * PAGE + 1 }, (_, i) => ({
      at: 1_795_000_000_000 + i, actor_type: 'user' as const, actor_id: `u${i % 17}`, action: 'recording.played', object_type: 'recording',
      object_id: (i % 97).toString(16).padStart(32, '0'), care_unit: 'unit-a', patient_pseudonym: null, outcome: 'success' as const, request_id: null, source: null,
      details: JSON.stringify({ start: i }),
    }));
    log = await signedAuditLog(rows);
  });
  after(() => log.close());

  it('lets the event loop turn between the pages of one pass', async () => {
    // The event loop's turns, counted; each page read notes the turn it was read in.
    let turn = 0;
    let done = false;
    const tick = () => {
      turn++;
      if (!done) setImmediate(tick);
    };
    setImmediate(tick);
    const driver = sqliteDriverOf(log.db)!;
    const prepare = driver.prepare;
    const pageTurns: number[] = [];
    driver.prepare = function (this: typeof driver, source: string) {
      const statement = prepare.call(this, source);
      if (!/from "audit_events"/.test(source)) return statement;
      const all = statement.all.bind(statement) as (...params: unknown[]) => unknown[];
      statement.all = ((...params: unknown[]) => {
        pageTurns.push(turn);
        return all(...params);
      }) as typeof statement.all;
      return statement;
    } as typeof driver.prepare;
    try {
      const r = await log.verify({ workers: 0 });
      assert.deepEqual(r.problems, []);
      assert.equal(r.entries, 3 * PAGE + 1);
    } finally {
      done = true;
      driver.prepare = prepare;
    }
    assert.equal(pageTurns.length, 4, `pages read: ${pageTurns.length}`);
    assert.equal(new Set(pageTurns).size, pageTurns.length, `pages were read in turns ${pageTurns.join(', ')}: the event loop waited for more than one`);
  });
});
