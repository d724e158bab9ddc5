// An export is a standard age file: Debian's stock `age` decrypts it with the archive identity
// to exactly the bytes that were ingested.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { makeWav } from '../src/ingest/wav.ts';
import { ingestKey, startTestServer, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';
import { catalogEnv, TEST_CATALOG } from './helpers/catalog.ts';
import { BIN, runCli } from './helpers/cli.ts';

const AGE = '/usr/bin/age';

describe('export as a standard age file', () => {
  let s: TestServer;
  const ids: string[] = [];
  const originals: Buffer[] = [];

  before(async () => {
    assert.ok(existsSync(AGE), 'the age CLI is needed (Debian package "age"; npm test installs it)');
    s = await startTestServer();
    const key = await ingestKey(s);
    // Sizes around the 64 KiB chunk boundary, and a longer call.
    for (const dataBytes of [1, 65_536 - 44, 65_536 - 44 + 1, 3 * 65_536 - 44, 1_000_000]) {
      const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: randomBytes(dataBytes) });
      originals.push(wav);
      ids.push(recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T10:00:00Z', direction: 'outbound', careUnit: 'unit-b' })));
    }
    await s.running.close();
  });
  after(() => s.close());

  it('age -d -i archive-identity.txt gives back the original bytes', async () => {
    for (const [i, id] of ids.entries()) {
      const out = join(s.dir, '..', `export-${i}.age`);
      const res = await runCli(['export', '--data', s.dir, id, '--out', out]);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(statSync(out).mode & 0o777, 0o600);
      const plain = execFileSync(AGE, ['-d', '-i', join(s.dir, 'keys', 'archive-identity.txt'), out], { maxBuffer: 64 << 20 });
      assert.ok(plain.equals(originals[i]!), `recording ${i}: age decrypted ${plain.length} bytes, expected ${originals[i]!.length}`);
      assert.ok(readFileSync(out).subarray(0, 22).toString() === 'age-encryption.org/v1\n');
    }
  });

  it('a tampered export fails in age too (positive control of the check above)', () => {
    const out = join(s.dir, '..', 'export-0.age');
    const bytes = readFileSync(out);
    bytes[bytes.length - 5]! ^= 1;
    const res = spawnSync(AGE, ['-d', '-i', join(s.dir, 'keys', 'archive-identity.txt')], { input: bytes });
    assert.notEqual(res.status, 0);
  });

  it('another identity cannot decrypt it', () => {
    const other = join(s.dir, '..', 'other.key');
    execFileSync('age-keygen', ['-o', other], { stdio: 'ignore' });
    const res = spawnSync(AGE, ['-d', '-i', other, join(s.dir, '..', 'export-1.age')]);
    assert.notEqual(res.status, 0);
  });

  it('the audit trail records each export', async () => {
    const { openTestArchive } = await import('./helpers/catalog.ts');
    const a = await openTestArchive(s.dir);
    try {
      const rows = await a.db.selectFrom('audit_events').select(['object_id', 'actor_type']).where('action', '=', 'recording.exported').execute();
      assert.deepEqual(rows.map((r) => r.object_id).sort(), [...ids].sort());
      assert.ok(rows.every((r) => r.actor_type === 'operator'));
    } finally {
      await a.close();
    }
  });

  const exportsLogged = async (outcome: 'success' | 'failure') => {
    const { openTestArchive } = await import('./helpers/catalog.ts');
    const a = await openTestArchive(s.dir);
    try {
      return (await a.db.selectFrom('audit_events').select('seq').where('action', '=', 'recording.exported').where('outcome', '=', outcome).execute()).length;
    } finally {
      await a.close();
    }
  };

  it('an --out that cannot be made (no such folder, a file there already, a folder): a clear message, and no export in the log', async () => {
    const before = await exportsLogged('success');
    const taken = join(s.dir, '..', 'taken.age');
    writeFileSync(taken, 'not an export');
    for (const [out, why] of [[join(s.dir, '..', 'nowhere', 'x.age'), /its directory does not exist/], [taken, /it exists already/], [join(s.dir, '..'), /it exists already|it is a directory/]] as const) {
      const res = await runCli(['export', '--data', s.dir, ids[1]!, '--out', out]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /^callvault: cannot write /);
      assert.match(res.stderr, why);
      assert.doesNotMatch(res.stderr, /\n\s+at /);
    }
    assert.equal(readFileSync(taken, 'utf8'), 'not an export', 'the file there is left as it was');
    assert.equal(await exportsLogged('success'), before, 'no export was audited as made');
  });

  it('a file that cannot take the whole export (a file size limit, as a full disk): exit 1, the part written removed, and the log says it failed', async () => {
    const out = join(s.dir, '..', 'limited.age');
    const before = await exportsLogged('failure');
    if (TEST_CATALOG === 'sqlite') {
      // The catalog's own writes must go through: its write-ahead log emptied, its file under the limit.
      const { openTestArchive } = await import('./helpers/catalog.ts');
      const a = await openTestArchive(s.dir);
      try {
        await sql`pragma wal_checkpoint(truncate)`.execute(a.db);
      } finally {
        await a.close();
      }
      assert.ok(statSync(join(s.dir, 'catalog.sqlite')).size < 400 * 1024, 'the catalog is under the limit');
    }
    // 500 KiB at most in any file this process writes; a write past it fails (EFBIG) instead of
    // killing the process (SIGXFSZ ignored), as a write to a full disk fails.
    const res = await runCli(['-c', `trap '' XFSZ; ulimit -f 500; exec "${process.execPath}" "${BIN}" export --data "${s.dir}" ${ids[4]} --out "${out}"`],
      { command: 'bash', env: catalogEnv(s.dir) });
    assert.equal(res.code, 1, `${res.stdout}\n${res.stderr}`);
    assert.match(res.stderr, /^callvault: cannot write .*limited\.age: EFBIG; the part written was removed/);
    assert.doesNotMatch(res.stdout, /Wrote/);
    assert.equal(existsSync(out), false, 'no part of the export is left');
    assert.equal(await exportsLogged('failure'), before + 1);
  });

  it('a recording whose object is missing from the blob store: a clear message, nothing written, no stack trace', async () => {
    const { openTestArchive } = await import('./helpers/catalog.ts');
    const a = await openTestArchive(s.dir);
    let blob: string;
    try {
      blob = (await a.recordings.get(ids[0]!))!.blob_key;
    } finally {
      await a.close();
    }
    const path = join(s.dir, 'blobs', blob.slice(0, 2), blob.slice(2, 4), blob);
    const aside = `${path}.aside`;
    renameSync(path, aside);
    try {
      const out = join(s.dir, '..', 'missing.age');
      const res = await runCli(['export', '--data', s.dir, ids[0]!, '--out', out]);
      assert.equal(res.code, 1, res.stderr);
      assert.match(res.stderr, /^callvault: recording [0-9a-f]{32}: its audio object is missing from the blob store/);
      assert.doesNotMatch(res.stderr, /\n\s+at /);
      assert.equal(existsSync(out), false);
    } finally {
      renameSync(aside, path);
    }
  });
});
