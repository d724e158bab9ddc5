// The real `callvault` command, run as a child process with the Node.js that runs the tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { catalogEnv, catalogFor, TEST_CATALOG } from './catalog.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = join(REPO_ROOT, 'bin', 'callvault.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The parent's environment without any CALLVAULT_* variable, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CALLVAULT_')) env[k] = v;
  return { ...env, ...extra };
}

export interface CliOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the child (SIGKILL) and reject after this many ms. */
  timeoutMs?: number;
}

export interface CliProcess {
  child: ChildProcess;
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the whole run once the process has exited. */
  exited: Promise<CliResult>;
  /** Resolves once stdout or stderr matches `re`; rejects if the process exits first or time runs out. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
}

/** The data directory a command line names (--data DIR, or CALLVAULT_DATA), absolute. */
function dataDirOf(args: string[], opts: CliOptions): string | undefined {
  const i = args.indexOf('--data');
  const given = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith('--data='))?.slice('--data='.length) ?? opts.env?.CALLVAULT_DATA;
  return given === undefined ? undefined : resolve(opts.cwd ?? REPO_ROOT, given);
}

/** Starts `node bin/callvault.js ...args` (or another command, with `command`). */
export function startCli(args: string[], opts: CliOptions & { command?: string } = {}): CliProcess {
  const command = opts.command ?? process.execPath;
  const argv = opts.command ? args : [BIN, ...args];
  // On the PostgreSQL test catalog, the archive's database goes with its data directory.
  const env = { ...catalogEnv(dataDirOf(args, opts)), ...opts.env };
  const child = spawn(command, argv, { cwd: opts.cwd ?? REPO_ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errOut = '';
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; listeners.forEach((f) => f()); });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { errOut += d; listeners.forEach((f) => f()); });
  const exited = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      resolve({ code, signal, stdout: out, stderr: errOut });
      listeners.forEach((f) => f());
    });
  });
  let done = false;
  void exited.then(() => { done = true; }, () => { done = true; });
  return {
    child, exited,
    stdout: () => out,
    stderr: () => errOut,
    waitFor(re, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`timed out waiting for ${re}; stdout: ${out}\nstderr: ${errOut}`)), timeoutMs);
        const check = () => {
          if (re.test(out) || re.test(errOut)) finish();
          else if (done) finish(new Error(`the process exited before printing ${re}; stdout: ${out}\nstderr: ${errOut}`));
        };
        function finish(e?: Error) {
          clearTimeout(timer);
          listeners.delete(check);
          if (e) reject(e);
          else resolve();
        }
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs the command to completion. */
export async function runCli(args: string[], opts: CliOptions & { command?: string } = {}): Promise<CliResult> {
  // A new archive on the PostgreSQL test catalog gets a fresh database of its own.
  const dir = dataDirOf(args, opts);
  // (Unless the test names the catalog itself: --database-url, or CALLVAULT_DATABASE_URL, '' for none.)
  const ownCatalog = args.some((a) => a.startsWith('--database-url')) || opts.env?.CALLVAULT_DATABASE_URL !== undefined;
  if (TEST_CATALOG === 'postgres' && dir !== undefined && !opts.command && !ownCatalog && (args[0] === 'init' || args[0] === 'start')) await catalogFor(dir);
  const p = startCli(args, opts);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      p.child.kill('SIGKILL');
      reject(new Error(`callvault ${args.join(' ')} did not finish within ${timeoutMs} ms; stdout: ${p.stdout()}\nstderr: ${p.stderr()}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([p.exited, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Serving extends CliProcess {
  /** Where it listens, as it printed it (http://127.0.0.1:PORT, or https://). */
  url: string;
  port: number;
}

/**
 * Starts `callvault serve ...args --listen 127.0.0.1:0` (or another command line that ends in
 * serve's arguments, with `command`) and resolves once it listens, with the port the system
 * gave it. No port is chosen beforehand, so none can be taken by another process in between.
 */
export async function startServing(args: string[], opts: CliOptions & { command?: string; timeoutMs?: number } = {}): Promise<Serving> {
  const p = startCli([...args, '--listen', '127.0.0.1:0'], opts);
  const listening = /callvault is listening on (https?:\/\/127\.0\.0\.1:(\d+)) /;
  try {
    await p.waitFor(listening, opts.timeoutMs ?? 30_000);
  } catch (err) {
    p.child.kill('SIGKILL');
    throw err;
  }
  const m = listening.exec(p.stdout())!;
  return { ...p, url: m[1]!, port: Number(m[2]) };
}

/**
 * Whether process `pid` holds a listening TCP socket, on any address and port (Linux: its
 * socket descriptors against the LISTEN rows of its /proc/PID/net/tcp and tcp6). False once it
 * has exited.
 */
export function listensNow(pid: number): boolean {
  try {
    const sockets = new Set(openedBy(pid).flatMap((target) => /^socket:\[(\d+)\]$/.exec(target)?.slice(1) ?? []));
    for (const table of ['tcp', 'tcp6']) {
      for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols[3] === '0A' && sockets.has(cols[9]!)) return true; // 0A: LISTEN; column 10: the socket's inode
      }
    }
  } catch {
    return false; // gone
  }
  return false;
}

/** What process `pid`'s file descriptors point to (Linux /proc: paths, `socket:[INODE]`...). */
export function openedBy(pid: number): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      targets.push(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch { /* closed meanwhile */ }
  }
  return targets;
}

/** True if something accepts TCP connections on host:port right now. */
export function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE'));
    srv.listen(port, host, () => srv.close(() => resolve(false)));
  });
}

/** Polls GET url until it answers 200, or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs = 10_000): Promise<Response> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const res = await fetch(url);
      if (res.status === 200) return res;
      last = new Error(`status ${res.status}`);
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms: ${String(last)}`);
}

export function tempRoot(prefix = 'callvault-cli-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}
