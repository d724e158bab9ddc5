// An export is a standard age file: Debian's stock `age` decrypts it with the archive identity
// to exactly the bytes that were ingested.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeWav } from '../src/ingest/wav.ts';
import { ingestKey, startTestServer, type TestServer } from './helpers/archive.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';
import { runCli } from './helpers/cli.ts';

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
