// The audit log proves its own integrity. In a log of a few thousand entries with signed
// checkpoints (catalog and witness), every kind of tampering is found by `audit verify`,
// each against a positive control that verifies clean.
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { generateKeyPairSync } from 'node:crypto';
import { auditVerifierKey, createCheckpointer, logOrigin } from '../src/audit/checkpointer.ts';
import { signCheckpoint } from '../src/audit/checkpoint.ts';
import { entryLeafHash } from '../src/audit/entry.ts';
import { verifyAuditLog, type VerifyReport } from '../src/audit/verify.ts';
import { initArchive, openArchive } from '../src/cli/archive.ts';
import { runCli } from './helpers/cli.ts';

const ENTRIES = 3000;

describe('audit verify', () => {
  let root: string;
  let pristine: string;
  let vkey: string;
  let origin: string;
  let n = 0;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'callvault-audit-'));
    pristine = join(root, 'pristine');
    await initArchive(pristine);
    const a = await openArchive(pristine);
    origin = logOrigin(a.keys.archiveRecipient);
    vkey = auditVerifierKey(origin, a.keys.auditSigningKey());
    const cps = await createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witnessDir: `${pristine}-witness` });
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
  after(() => rm(root, { recursive: true, force: true }));

  /** A fresh copy of the archive and its witness, tampered by `attack` through SQLite directly. */
  async function tampered(attack: (db: Database.Database, dir: string) => void | Promise<void>): Promise<VerifyReport> {
    const dir = join(root, `copy-${n++}`);
    await cp(pristine, dir, { recursive: true });
    await cp(`${pristine}-witness`, `${dir}-witness`, { recursive: true });
    const db = new Database(join(dir, 'catalog.sqlite'));
    db.exec('DROP TRIGGER IF EXISTS audit_events_no_update; DROP TRIGGER IF EXISTS audit_events_no_delete; DROP TRIGGER IF EXISTS audit_checkpoints_no_update; DROP TRIGGER IF EXISTS audit_checkpoints_no_delete;');
    await attack(db, dir);
    db.close();
    const a = await openArchive(dir);
    try {
      return await verifyAuditLog({ db: a.db, vkey, witnessDir: `${dir}-witness` });
    } finally {
      await a.close();
    }
  }

  const rehash = (db: Database.Database, seq: number) => {
    const row = db.prepare('SELECT * FROM audit_events WHERE seq = ?').get(seq) as Parameters<typeof entryLeafHash>[0];
    db.prepare('UPDATE audit_events SET leaf_hash = ? WHERE seq = ?').run(entryLeafHash(row), seq);
  };

  it('positive control: the untouched log verifies clean', async () => {
    const r = await tampered(() => undefined);
    assert.deepEqual(r.problems, []);
    assert.equal(r.entries, ENTRIES);
    assert.ok(r.checkpoints >= 1 && r.witnessed >= 1);
  });

  it('an altered entry is named by its sequence number', async () => {
    const r = await tampered((db) => { db.prepare("UPDATE audit_events SET actor_id = 'someone-else' WHERE seq = 1234").run(); });
    assert.ok(r.problems.some((p) => p.startsWith('entry 1234:')), r.problems.join('\n'));
  });

  it('an altered entry whose hash was recomputed too breaks the checkpoint', async () => {
    const r = await tampered((db) => { db.prepare("UPDATE audit_events SET outcome = 'denied' WHERE seq = 77").run(); rehash(db, 77); });
    assert.ok(r.problems.some((p) => /does not match the log/.test(p)), r.problems.join('\n'));
    assert.ok(!r.problems.some((p) => p.startsWith('entry 77:')), 'the entry itself looks consistent');
  });

  it('a deleted entry is found', async () => {
    const r = await tampered((db) => { db.prepare('DELETE FROM audit_events WHERE seq = 999').run(); });
    assert.ok(r.problems.some((p) => /999\.\.999 are missing/.test(p)), r.problems.join('\n'));
    assert.ok(r.problems.some((p) => /does not match the log|truncated/.test(p)));
  });

  it('reordered entries are found', async () => {
    const r = await tampered((db) => {
      const a = db.prepare('SELECT * FROM audit_events WHERE seq = 10').get() as Record<string, unknown>;
      const b = db.prepare('SELECT * FROM audit_events WHERE seq = 11').get() as Record<string, unknown>;
      const set = db.prepare('UPDATE audit_events SET at=@at, actor_type=@actor_type, actor_id=@actor_id, action=@action, object_type=@object_type, object_id=@object_id, care_unit=@care_unit, patient_pseudonym=@patient_pseudonym, outcome=@outcome, request_id=@request_id, source=@source, details=@details, leaf_hash=@leaf_hash WHERE seq=@seq');
      set.run({ ...b, seq: 10 });
      set.run({ ...a, seq: 11 });
    });
    assert.ok(r.problems.some((p) => /does not match the log/.test(p)), r.problems.join('\n'));
  });

  it('an inserted entry is found', async () => {
    const r = await tampered((db) => {
      const rows = db.prepare('SELECT * FROM audit_events WHERE seq >= 2000 ORDER BY seq').all() as Array<Record<string, unknown>>;
      db.prepare('DELETE FROM audit_events WHERE seq >= 2000').run();
      const ins = db.prepare('INSERT INTO audit_events (seq, at, actor_type, actor_id, action, object_type, object_id, care_unit, patient_pseudonym, outcome, request_id, source, details, leaf_hash) VALUES (@seq, @at, @actor_type, @actor_id, @action, @object_type, @object_id, @care_unit, @patient_pseudonym, @outcome, @request_id, @source, @details, @leaf_hash)');
      const fake = { ...rows[0]!, actor_id: 'alibi', details: null };
      ins.run({ ...fake, seq: 2000, leaf_hash: entryLeafHash(fake as never) });
      for (const r of rows) ins.run({ ...r, seq: (r.seq as number) + 1 });
    });
    assert.ok(r.problems.some((p) => /does not match the log/.test(p)), r.problems.join('\n'));
  });

  it('a truncated log is found', async () => {
    const r = await tampered((db) => { db.prepare('DELETE FROM audit_events WHERE seq > 2900').run(); });
    assert.ok(r.problems.some((p) => /truncated/.test(p)), r.problems.join('\n'));
  });

  it('a rolled-back checkpoint (catalog) is found through the witness', async () => {
    const r = await tampered((db) => {
      db.prepare('DELETE FROM audit_events WHERE seq > 2500').run();
      db.prepare('DELETE FROM audit_checkpoints').run();
    });
    assert.ok(r.problems.some((p) => /rolled back/.test(p)), r.problems.join('\n'));
    assert.ok(r.problems.some((p) => /truncated/.test(p)));
  });

  it('a swapped checkpoint row is found', async () => {
    const r = await tampered((db) => {
      const { privateKey } = generateKeyPairSync('ed25519');
      const other = signCheckpoint({ origin, size: 10, rootHash: Buffer.alloc(32), privateKey, keyName: origin });
      db.prepare('UPDATE audit_checkpoints SET note = ?').run(other);
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

  it('the command exits non-zero naming the problem, and 0 on a clean log', async () => {
    const clean = await runCli(['audit', 'verify', '--data', pristine]);
    assert.equal(clean.code, 0, clean.stderr);
    assert.match(clean.stdout, new RegExp(`${ENTRIES} entries`));
    const dir = join(root, 'cli-copy');
    await cp(pristine, dir, { recursive: true });
    await cp(`${pristine}-witness`, `${dir}-witness`, { recursive: true });
    const db = new Database(join(dir, 'catalog.sqlite'));
    db.exec('DROP TRIGGER audit_events_no_update');
    db.prepare("UPDATE audit_events SET care_unit = 'elsewhere' WHERE seq = 42").run();
    db.close();
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
