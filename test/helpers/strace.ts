// Runs a Node.js module under strace and says what it did to files, in order: how a test sees
// from outside whether data and names were made durable before the next step.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CALLS = ['openat', 'fsync', 'fdatasync', 'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2'];

/**
 * What `script` (an ES module's text, run with `args`) did to files and directories, in order:
 * `open PATH`, `write PATH` and `sync PATH` (fsync or fdatasync), each path as it was opened.
 */
export function fileEventsOf(script: string, args: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cv-strace-'));
  let lines: string[];
  try {
    const out = join(dir, 'trace');
    const run = spawnSync('strace', ['-f', '-qq', '-e', `trace=${CALLS.join(',')}`, '-o', out, process.execPath, '--input-type=module', '-e', script, ...args], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the traced script failed (${run.status}): ${run.stderr}`);
    lines = readFileSync(out, 'utf8').split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const paths = new Map<string, string>(); // what each open file descriptor is
  const opening = new Map<string, string>(); // thread -> the path of its openat that another thread's call split
  const events: string[] = [];
  const opened = (fd: string, path: string) => {
    paths.set(fd, path);
    events.push(`open ${path}`);
  };
  for (const line of lines) {
    const whole = /openat\(AT_FDCWD, "([^"]+)", [^)]*\)\s+=\s+(\d+)/.exec(line);
    if (whole) {
      opened(whole[2]!, whole[1]!);
      continue;
    }
    // A call interrupted in the trace by another thread's: "openat(... <unfinished ...>", later
    // "<... openat resumed>) = FD" on the same thread.
    const begun = /^(\d+)\s+openat\(AT_FDCWD, "([^"]+)".*<unfinished \.\.\.>$/.exec(line);
    if (begun) {
      opening.set(begun[1]!, begun[2]!);
      continue;
    }
    const resumed = /^(\d+)\s+<\.\.\. openat resumed>.*\)\s+=\s+(\d+)/.exec(line);
    if (resumed) {
      const path = opening.get(resumed[1]!);
      opening.delete(resumed[1]!);
      if (path !== undefined) opened(resumed[2]!, path);
      continue;
    }
    const call = /^\d+\s+(\w+)\((\d+)/.exec(line);
    const path = call && paths.get(call[2]!);
    if (!path) continue;
    if (/^p?writev?(?:64|v2)?$/.test(call[1]!)) events.push(`write ${path}`);
    else if (/^f(?:data)?sync$/.test(call[1]!)) events.push(`sync ${path}`);
  }
  return events;
}
