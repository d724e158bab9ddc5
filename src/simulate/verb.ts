// `callvault simulate`: live calls against a callvault (or any tus 1.0) server, for load tests
// and demos. Exit status 0 when every call completed, 1 otherwise.
import { parseArgs } from 'node:util';
import { err, out, UsageError } from '../cli/output.ts';
import { createProgressDisplay, summaryLines } from './progress.ts';
import { runSimulation, validateOptions, type SimulationOptions } from './simulation.ts';
import { isLoopback } from '../lib/net.ts';
import { endpointOf } from './tus-client.ts';

export const SIMULATE_USAGE = `usage: callvault simulate --url URL --key KEY --calls N --concurrency C --duration S
    [--codec pcmu|pcma] [--channels 1|2] [--care-unit NAME] [--interval-ms 1000]
    [--connections per-call|pooled] [--max-sockets N] [--no-checksum] [--speech auto|off]
    [--allow-remote]
  The key may also come from CALLVAULT_INGEST_KEY. Only loopback URLs unless --allow-remote.`;

const OPTIONS = {
  url: { type: 'string' },
  key: { type: 'string' },
  calls: { type: 'string' },
  concurrency: { type: 'string' },
  duration: { type: 'string' },
  codec: { type: 'string' },
  channels: { type: 'string' },
  'care-unit': { type: 'string' },
  'interval-ms': { type: 'string' },
  connections: { type: 'string' },
  'max-sockets': { type: 'string' },
  checksum: { type: 'boolean', default: true },
  speech: { type: 'string' },
  'allow-remote': { type: 'boolean', default: false },
} as const;

function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d{1,7}$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} must be a whole number from 1 to 9999999`);
  return Number(v);
}

function oneOf<T extends string>(v: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be ${allowed.join(' or ')}`);
  return v as T;
}

/** Parses the flags into simulation options; throws UsageError on anything wrong. */
export function parseSimulateArgs(args: string[], env: NodeJS.ProcessEnv = process.env): SimulationOptions {
  let values;
  try {
    ({ values } = parseArgs({ args, options: OPTIONS, allowPositionals: false, allowNegative: true, strict: true }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${SIMULATE_USAGE}`);
  }
  if (!values.url) throw new UsageError(`--url is required\n${SIMULATE_USAGE}`);
  const key = values.key ?? env.CALLVAULT_INGEST_KEY;
  if (!key) throw new UsageError(`--key (or CALLVAULT_INGEST_KEY) is required\n${SIMULATE_USAGE}`);
  let host: string;
  try {
    // The client's own reading of the URL, so that the check and the calls agree.
    host = endpointOf(values.url, key).host;
  } catch (e) {
    const why = e instanceof TypeError && !/Invalid URL/i.test(e.message) ? `: ${e.message}` : '';
    throw new UsageError(`--url must be an http:// or https:// URL, e.g. http://127.0.0.1:8750${why}`);
  }
  if (!isLoopback(host) && !values['allow-remote']) {
    throw new UsageError(`--url points at ${host}, not this machine: a load test of another host needs --allow-remote`);
  }
  const calls = positiveInt(values.calls, 'calls', 10);
  const durationS = Number(values.duration ?? 30);
  if (!(durationS > 0 && durationS <= 86_400)) throw new UsageError('--duration must be a number of seconds, more than 0 and at most 86400');
  const careUnit = values['care-unit'] ?? 'Simulation';
  if (!/^[\p{L}\p{N} ._:-]{1,64}$/u.test(careUnit)) throw new UsageError('--care-unit must be 1 to 64 letters, digits, spaces or . _ : -');
  return {
    url: values.url,
    key,
    calls,
    concurrency: positiveInt(values.concurrency, 'concurrency', calls),
    durationS,
    codec: oneOf(values.codec, 'codec', ['pcmu', 'pcma'] as const, 'pcmu'),
    channels: Number(oneOf(values.channels, 'channels', ['1', '2'] as const, '1')) as 1 | 2,
    careUnit,
    patchIntervalMs: positiveInt(values['interval-ms'], 'interval-ms', 1000),
    connections: oneOf(values.connections, 'connections', ['per-call', 'pooled'] as const, 'per-call'),
    maxSockets: values['max-sockets'] === undefined ? undefined : positiveInt(values['max-sockets'], 'max-sockets', 1),
    checksum: values.checksum,
    speech: oneOf(values.speech, 'speech', ['auto', 'off'] as const, 'auto'),
  };
}

export async function simulate(args: string[]): Promise<number> {
  const opts = parseSimulateArgs(args);
  // Checked before anything is announced: a run that cannot start says why, and only that.
  try {
    validateOptions(opts);
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  }
  const display = createProgressDisplay(process.stderr);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  out(`Simulating ${opts.calls} live calls (${Math.min(opts.concurrency ?? opts.calls, opts.calls)} at once, ${opts.durationS} s each +-10 %, ${opts.codec}) against ${opts.url}. Stop with Ctrl-C.`);
  let summary;
  try {
    summary = await runSimulation({ ...opts, onProgress: (p) => display.update(p), signal: stop.signal });
  } catch (e) {
    if (e instanceof RangeError) throw new UsageError(e.message);
    throw e;
  } finally {
    display.done();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  for (const line of summaryLines(summary)) out(line);
  if (summary.completed === summary.calls) {
    out(`All ${summary.calls} calls completed.`);
    return 0;
  }
  err(`${summary.calls - summary.completed} of ${summary.calls} calls did not complete.`);
  return 1;
}
