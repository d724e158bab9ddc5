// One process at a time works on a data directory as its owner: `serve` (and `start`) while
// serving, `migrate` while moving the archive. The lock is a file, DATA/callvault.lock, created
// exclusively (O_EXCL) and naming its holder (process id, host, verb, since when).
// Invariants:
//  - a lock whose holder is a process of this host that no longer runs (killed, crashed) is
//    taken over; a lock of another host is never taken over (that process cannot be checked);
//  - a holder removes only its own lock, and a stale lock goes only as it was seen: two processes
//    taking over the same stale lock never remove each other's fresh one.
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ArchiveError } from './archive-error.ts';

export interface DataDirLock {
  release(): void;
}

interface Holder {
  pid: number;
  host: string;
  verb: string;
  since: string;
}

export const lockFileOf = (dir: string) => join(dir, 'callvault.lock');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null; // gone meanwhile
  }
}

function parseHolder(text: string | null): Holder | null {
  try {
    return text === null ? null : JSON.parse(text) as Holder;
  } catch {
    return null; // being written this instant, or cut short by a crash
  }
}

const readHolder = (file: string) => parseHolder(readText(file));

/**
 * Removes the lock file if it still holds `seen` (the stale lock judged dead). It is moved aside
 * first, atomically, and checked there: a fresh lock another process wrote meanwhile is put back.
 * Returns whether the stale lock was removed.
 */
export function removeStale(file: string, seen: string | null): boolean {
  const aside = `${file}.${randomBytes(6).toString('hex')}`;
  try {
    renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (readText(aside) === seen) {
    rmSync(aside, { force: true });
    return true;
  }
  try {
    linkSync(aside, file); // never over a lock taken in the meantime
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  rmSync(aside, { force: true });
  return false;
}

/** An unreadable lock file is someone's being written now, unless it is older than a few seconds. */
function oldUnreadable(file: string): boolean {
  try {
    return Date.now() - statSync(file).mtimeMs > 5000;
  } catch {
    return true; // gone: try again
  }
}

const describeHolder = (h: Holder) => `callvault ${h.verb} (process ${h.pid} on ${h.host}, since ${h.since})`;

/**
 * Who is moving the archive in `dir` (callvault migrate holds its lock), unless it is this
 * process or a process of this host that no longer runs; null when nobody is.
 */
export function migrationUnderWay(dir: string): string | null {
  const h = readHolder(lockFileOf(dir));
  if (!h || h.verb !== 'migrate') return null;
  if (h.host === hostname() && (h.pid === process.pid || !alive(h.pid))) return null;
  return describeHolder(h);
}

/** Takes the data directory's lock for `verb`, or throws naming who holds it and what to do. */
export function lockDataDir(dir: string, verb: string): DataDirLock {
  const file = lockFileOf(dir);
  const me: Holder = { pid: process.pid, host: hostname(), verb, since: new Date().toISOString() };
  const text = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, text, { flag: 'wx', mode: 0o600 });
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new ArchiveError(`no archive at ${dir}: there is no such directory (callvault init makes one)`);
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw new ArchiveError(`cannot take the lock ${file} (${code}): run callvault as the archive's owner, on a writable directory`);
      if (code !== 'EEXIST') throw e;
    }
    const seen = readText(file);
    const holder = parseHolder(seen);
    const stale = holder === null ? oldUnreadable(file) : holder.host === me.host && !alive(holder.pid);
    if (!stale || attempt > 0) {
      const who = holder ? describeHolder(holder) : 'another callvault process';
      throw new ArchiveError(`${dir} is in use by ${who}; stop it first. If no callvault process is running, remove ${file}`);
    }
    removeStale(file, seen);
  }
  return {
    release() {
      const holder = readHolder(file);
      if (holder && holder.pid === me.pid && holder.host === me.host && holder.since === me.since) rmSync(file, { force: true });
    },
  };
}
