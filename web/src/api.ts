// The public API under /api/v1, and nothing else: JSON in and out, the session cookie sent by
// the browser, and the CSRF token from GET /api/v1/session on every request that changes state.

export interface Session {
  username: string;
  roles: string[];
  careUnits: string[];
  agentId: string | null;
  csrfToken: string;
  authMethod: string;
  permissions: string[];
  stepUpUntil: string | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, message: string, code?: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let csrf = '';
const endedListeners = new Set<() => void>();

export function setCsrf(token: string): void {
  csrf = token;
}

/** Called when the server says the session is gone (idle timeout, sign-out elsewhere, role change). */
export function onSessionEnded(l: () => void): () => void {
  endedListeners.add(l);
  return () => { endedListeners.delete(l); };
}

export interface RequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** A 401 here means "not accepted" (a wrong code), not "signed out". */
  credentialCheck?: boolean;
}

/** Sends a request; answers with the Response when it is 2xx, throws ApiError otherwise. */
export async function request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method, headers, credentials: 'same-origin', signal: opts.signal, cache: 'no-store',
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  if (res.ok) return res;
  let message = res.statusText;
  let code: string | undefined;
  try {
    const data = (await res.json()) as { error?: string; code?: string };
    message = data.error ?? message;
    code = data.code;
  } catch { /* not JSON */ }
  if (res.status === 401 && csrf && !opts.credentialCheck) {
    csrf = '';
    for (const l of endedListeners) l();
  }
  throw new ApiError(res.status, message, code);
}

export async function api<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await request(method, path, opts);
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => api<T>('GET', path, { signal });
export const post = <T>(path: string, body: unknown = {}, opts: Omit<RequestOptions, 'body'> = {}) => api<T>('POST', path, { ...opts, body });

/** A query string from the given values, leaving out empty ones. */
export function query(values: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const isAbort = (e: unknown) => e instanceof DOMException && e.name === 'AbortError';
