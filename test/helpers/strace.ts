// Runs a Node.js module under strace and returns the system calls it made, in order: how a test
// sees from outside whether data and names were made durable before the next step.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The lines of `strace -f` for the given calls while `script` (an ES module's text) runs with `args`. */
export function syscallsOf(script: string, args: string[], calls: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cv-strace-'));
  try {
    const out = join(dir, 'trace');
    const run = spawnSync('strace', ['-f', '-qq', '-e', `trace=${calls.join(',')}`, '-o', out, process.execPath, '--input-type=module', '-e', script, ...args], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`the traced script failed (${run.status}): ${run.stderr}`);
    return readFileSync(out, 'utf8').split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `openat(AT_FDCWD, "path", flags...) = fd` as { path, flags, fd }. */
export function openedBy(line: string): { path: string; flags: string; fd: string } | undefined {
  const m = /openat\(AT_FDCWD, "([^"]+)", ([^),]+)[^)]*\) = (\d+)/.exec(line);
  return m ? { path: m[1]!, flags: m[2]!, fd: m[3]! } : undefined;
}

/** The file descriptor of a call named by `pattern` (e.g. /f(?:data)?sync/) at the start of a line. */
export function fdOf(line: string, pattern: RegExp): string | undefined {
  return new RegExp(`^\\d+\\s+(?:${pattern.source})\\((\\d+)`).exec(line)?.[1];
}
