// What the CLI says goes through here: results to stdout, problems to stderr.
export const out = (line = '') => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`${line}\n`);

export class UsageError extends Error {}

// Write errors a command has reported itself (writeOut's caller), not to be said twice.
const reported = new WeakSet<object>();

/** Writes to standard output and waits until it is taken: a full disk or a closed pipe fails here. */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (e) => {
      if (!e) return resolve();
      reported.add(e);
      reject(e);
    });
  });
}

/**
 * Standard output that fails (a full disk, a reader gone from the pipe) is said once, and makes
 * the command exit 1, instead of ending it with a stack trace.
 */
export function watchStdout(): void {
  let said = false;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    process.exitCode = 1;
    if (said || reported.has(e) || e.code === 'EPIPE') return; // EPIPE: the reader went away, nobody is left to tell
    said = true;
    err(`callvault: cannot write to standard output: ${e.code ?? e.message}`);
  });
}
