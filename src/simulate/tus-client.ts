// A lean tus 1.0 client for live calls over node:http: create with Upload-Defer-Length, PATCH,
// HEAD. No retries or policy here (see call.ts); this layer sends one request and reports what
// came back, with the acknowledgement latency: from the moment the request's first byte goes
// out on a connected socket to the arrival of the response head.
//
// Connections: 'per-call' gives each call its own keep-alive agent with one socket (what a SIP
// trunk's recorder does); 'pooled' shares one keep-alive agent with `maxSockets` sockets.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export const TUS_RESUMABLE = '1.0.0';
const OCTETS = 'application/offset+octet-stream';
/** At most this much of an error body is kept (for the first-failure report). */
const MAX_ERROR_BODY = 1024;

export interface HttpOutcome {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body of a non-2xx response (first KiB, as text); '' otherwise. */
  body: string;
  latencyMs: number;
}

/** A request that got no HTTP answer: kind is 'timeout', 'aborted' or 'network_<code>'. */
export class TransportError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
  }
}

export type ConnectionMode = 'per-call' | 'pooled';

export interface AgentPool {
  /** An agent for one call; release() when the call ends. */
  acquire(): { agent: http.Agent; release(): void };
  destroy(): void;
}

export function createAgentPool(opts: { https: boolean; mode: ConnectionMode; maxSockets?: number }): AgentPool {
  const Agent = opts.https ? https.Agent : http.Agent;
  if (opts.mode === 'pooled') {
    const shared = new Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 256, scheduling: 'fifo' });
    return { acquire: () => ({ agent: shared, release: () => undefined }), destroy: () => shared.destroy() };
  }
  const live = new Set<http.Agent>();
  return {
    acquire() {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      live.add(agent);
      return { agent, release: () => { live.delete(agent); agent.destroy(); } };
    },
    destroy() {
      for (const a of live) a.destroy();
      live.clear();
    },
  };
}

export interface Endpoint {
  readonly https: boolean;
  readonly host: string;
  readonly port: number;
  /** Path of the tus collection, e.g. /api/v1/uploads. */
  readonly uploadsPath: string;
  readonly origin: string;
  readonly auth: string;
}

export function endpointOf(url: string, key: string): Endpoint {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError('the URL must be http: or https:');
  if (u.search || u.hash || u.username || u.password) throw new TypeError('the URL must not carry a query, fragment or credentials');
  const https = u.protocol === 'https:';
  return {
    https,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(u.port || (https ? 443 : 80)),
    uploadsPath: `${u.pathname.replace(/\/+$/, '')}/api/v1/uploads`,
    origin: u.origin,
    auth: `Bearer ${key}`,
  };
}

/** True for 127.0.0.0/8, ::1 and localhost. */

function kindOf(e: unknown): string {
  if (e instanceof TransportError) return e.kind;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return `network_${code ?? 'error'}`;
}

export interface RequestOptions {
  method: 'POST' | 'PATCH' | 'HEAD';
  path: string;
  headers: http.OutgoingHttpHeaders;
  body?: Uint8Array;
  timeoutMs: number;
  signal?: AbortSignal;
}

export class TusConnection {
  readonly #ep: Endpoint;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;

  constructor(ep: Endpoint, agent: http.Agent) {
    this.#ep = ep;
    this.#agent = agent;
    this.#request = ep.https ? https.request : http.request;
  }

  send(o: RequestOptions): Promise<HttpOutcome> {
    return new Promise((resolve, reject) => {
      if (o.signal?.aborted) return reject(new TransportError('aborted', 'aborted before sending'));
      const body = o.body ?? new Uint8Array(0);
      const req = this.#request({
        host: this.#ep.host, port: this.#ep.port, method: o.method, path: o.path, agent: this.#agent,
        headers: { authorization: this.#ep.auth, 'tus-resumable': TUS_RESUMABLE, 'content-length': body.length, ...o.headers },
      });
      let sentAt = 0;
      const onAbort = () => req.destroy(new TransportError('aborted', 'aborted'));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (fn: () => void) => {
        o.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      req.once('socket', (s) => {
        if (s.connecting) s.once('connect', () => { sentAt = performance.now(); });
        else sentAt = performance.now();
      });
      req.setTimeout(o.timeoutMs, () => req.destroy(new TransportError('timeout', `no answer within ${o.timeoutMs} ms`)));
      req.on('error', (e) => settle(() => reject(e instanceof TransportError ? e : new TransportError(kindOf(e), (e as Error).message))));
      req.once('response', (res) => {
        const latencyMs = performance.now() - (sentAt || performance.now());
        const status = res.statusCode ?? 0;
        const pieces: Buffer[] = [];
        let kept = 0;
        if (status >= 200 && status < 300) res.resume();
        else {
          res.on('data', (d: Buffer) => {
            if (kept < MAX_ERROR_BODY) pieces.push(d.subarray(0, MAX_ERROR_BODY - kept));
            kept += d.length;
          });
        }
        res.on('error', (e) => settle(() => reject(new TransportError(kindOf(e), e.message))));
        res.once('end', () => settle(() => resolve({ status, headers: res.headers, body: Buffer.concat(pieces).toString('utf8'), latencyMs })));
      });
      req.end(body);
    });
  }

  /** POST: a live upload of unknown length. Resolves the upload's path on success (Location, same origin). */
  create(metadata: string, timeoutMs: number, signal?: AbortSignal): Promise<HttpOutcome> {
    return this.send({ method: 'POST', path: this.#ep.uploadsPath, headers: { 'upload-defer-length': '1', 'upload-metadata': metadata }, timeoutMs, signal });
  }

  patch(o: { path: string; offset: number; body: Uint8Array; uploadLength?: number; checksum: boolean; timeoutMs: number; signal?: AbortSignal }): Promise<HttpOutcome> {
    const headers: http.OutgoingHttpHeaders = { 'content-type': OCTETS, 'upload-offset': o.offset };
    if (o.uploadLength !== undefined) headers['upload-length'] = o.uploadLength;
    if (o.checksum && o.body.length > 0) headers['upload-checksum'] = `sha256 ${createHash('sha256').update(o.body).digest('base64')}`;
    return this.send({ method: 'PATCH', path: o.path, headers, body: o.body, timeoutMs: o.timeoutMs, signal: o.signal });
  }

  head(path: string, timeoutMs: number, signal?: AbortSignal): Promise<HttpOutcome> {
    return this.send({ method: 'HEAD', path, headers: {}, timeoutMs, signal });
  }

  /** The path of an upload from a Location header; null if it points elsewhere or is malformed. */
  uploadPathOf(location: string | undefined): string | null {
    if (!location) return null;
    let u: URL;
    try {
      u = new URL(location, this.#ep.origin);
    } catch {
      return null;
    }
    if (u.origin !== this.#ep.origin || !u.pathname.startsWith(`${this.#ep.uploadsPath}/`)) return null;
    const id = u.pathname.slice(this.#ep.uploadsPath.length + 1);
    return /^[A-Za-z0-9_-]{1,128}$/.test(id) ? u.pathname : null;
  }
}

/** A header value as a non-negative integer, or null. */
export function intHeader(v: string | string[] | undefined): number | null {
  return typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : null;
}
