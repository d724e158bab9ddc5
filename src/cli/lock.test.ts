import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lockDataDir, lockFileOf } from './lock.ts';

describe('the data directory lock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cv-lock-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is held by one process at a time, names its holder, and goes on release', () => {
    const lock = lockDataDir(dir, 'serve');
    assert.equal(JSON.parse(readFileSync(lockFileOf(dir), 'utf8')).verb, 'serve');
    assert.throws(() => lockDataDir(dir, 'migrate'), new RegExp(`in use by callvault serve \\(process ${process.pid} on `));
    lock.release();
    assert.equal(existsSync(lockFileOf(dir)), false);
    lockDataDir(dir, 'migrate').release();
  });

  it('takes over a lock whose process is gone, never one of another host', () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(lockFileOf(dir), JSON.stringify({ pid: Number(gone.stdout), host: hostname(), verb: 'serve', since: '2026-01-01T00:00:00Z' }));
    const lock = lockDataDir(dir, 'migrate');
    lock.release();
    writeFileSync(lockFileOf(dir), JSON.stringify({ pid: Number(gone.stdout), host: `${hostname()}-elsewhere`, verb: 'serve', since: '2026-01-01T00:00:00Z' }));
    assert.throws(() => lockDataDir(dir, 'migrate'), /If no callvault process is running, remove/);
    rmSync(lockFileOf(dir));
  });
});
