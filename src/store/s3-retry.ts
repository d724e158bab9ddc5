// Retries with exponential backoff for the S3 blob store.
// Invariants:
//  - only transient failures are retried (5xx, throttling, timeouts, refused or reset
//    connections); a 4xx answer is the caller's mistake and fails at once;
//  - a retried operation gives up only after `deadlineMs` of failing, and its error then names
//    the kind of failure and how long it lasted, never a credential, URL or request.

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET']);
const TRANSIENT_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeoutException', 'InternalError', 'ServiceUnavailable', 'TimeoutError']);

interface SdkError {
  name?: string;
  code?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

export function statusOf(err: unknown): number | undefined {
  return (err as SdkError | null)?.$metadata?.httpStatusCode;
}

/** Whether trying again later may succeed. */
function isTransient(err: unknown): boolean {
  const e = err as SdkError | null;
  if (!e || typeof e !== 'object') return false;
  const status = statusOf(e);
  if (status !== undefined && status >= 400 && status < 500) return status === 429 || status === 408;
  if (status !== undefined && status >= 500) return true;
  if (e.$retryable) return true;
  if ((e.code && TRANSIENT_CODES.has(e.code)) || (e.name && TRANSIENT_NAMES.has(e.name))) return true;
  return e.cause !== undefined && e.cause !== e && isTransient(e.cause);
}

/** A short, secret-free description of a failure: its name and HTTP status or system code. */
export function describeFailure(err: unknown): string {
  const e = err as SdkError | null;
  const status = statusOf(e);
  return [e?.name ?? 'Error', status ? `HTTP ${status}` : e?.code].filter(Boolean).join(', ');
}

/** A transient failure that lasted past its deadline; its message names it, secret-free. */
export class BlobStoreUnavailableError extends Error {}

export interface RetryPolicy {
  /** Give up once an operation has failed for this long (ms). */
  deadlineMs: number;
  /** First wait (ms), doubled after every failure up to `maxDelayMs`. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `op` until it succeeds, fails permanently, or has failed transiently for `deadlineMs`. */
export async function withRetry<T>(what: string, policy: RetryPolicy, op: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const base = policy.baseDelayMs ?? 100;
  const max = policy.maxDelayMs ?? 5_000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isTransient(err)) throw err;
      const elapsed = Date.now() - started;
      if (elapsed >= policy.deadlineMs) {
        throw new BlobStoreUnavailableError(`the object store did not accept ${what} for ${Math.round(elapsed / 1000)} s (${describeFailure(err)})`, { cause: err });
      }
      // Full jitter: nodes that lost the store together do not come back in lockstep.
      const delay = Math.min(max, base * 2 ** Math.min(attempt, 20));
      await (policy.sleep ?? wait)(Math.min(policy.deadlineMs - elapsed, delay / 2 + Math.random() * (delay / 2)));
    }
  }
}
