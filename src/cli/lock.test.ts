import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ArchiveError } from './archive.ts';
import { lockDataDir, lockFileOf, removeStale } from './lock.ts';

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

  it('names a data directory that does not exist, instead of failing on its lock file', () => {
    assert.throws(() => lockDataDir(join(dir, 'missing'), 'migrate'), (e: Error) => e instanceof ArchiveError && /^no archive at .*missing: there is no such directory/.test(e.message));
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

  it('removes a stale lock only as it was seen: a fresh lock written meanwhile by another process stays', () => {
    const file = lockFileOf(dir);
    const stale = JSON.stringify({ pid: 1, host: hostname(), verb: 'serve', since: '2026-01-01T00:00:00Z' });
    const fresh = JSON.stringify({ pid: process.pid, host: hostname(), verb: 'migrate', since: '2026-12-01T00:00:00Z' });
    // Another process removed the stale lock and wrote its own after this one read the stale one.
    writeFileSync(file, fresh);
    assert.equal(removeStale(file, stale), false);
    assert.equal(readFileSync(file, 'utf8'), fresh, 'the fresh lock is kept');
    writeFileSync(file, stale);
    assert.equal(removeStale(file, stale), true);
    assert.equal(existsSync(file), false);
    assert.equal(removeStale(file, stale), false, 'gone already: nothing to do');
  });
});
