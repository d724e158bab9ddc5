// The HTTP server: plumbing only (headers, authentication, policy, validation, errors).
// Business logic lives in the services the route handlers call.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import { actorOf, can, type Principal } from '../access/policy.ts';
import { AuditUnavailableError, type AuditLog } from '../audit/log.ts';
import type { Config } from '../config/config.ts';
import type { Authenticate } from './authenticate.ts';
import { HttpError, REASON_PHRASES } from './errors.ts';
import { appNotFound } from './pages.ts';
import { createEventSampler } from './rate-limit.ts';
import type { RouteDef } from './routes.ts';
import { namesAnAddress, sourceOf } from './source.ts';

const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface ServerDeps {
  config: Config;
  routes: RouteDef[];
  authenticate: Authenticate;
  audit: AuditLog;
  /** Where log lines go (defaults to stdout). */
  logStream?: NodeJS.WritableStream;
}

const principals = new WeakMap<FastifyRequest, Principal>();

/** Request ids: a random prefix per process and a counter (unique, and cheaper than 8 random bytes per request). */
function requestIds(): () => string {
  const prefix = randomBytes(4).toString('hex');
  let n = 0;
  return () => `${prefix}${(n++).toString(16).padStart(8, '0')}`;
}

function securityHeaders(reply: FastifyReply, tls: boolean): void {
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
  reply.header('cross-origin-opener-policy', 'same-origin');
  reply.header('cross-origin-resource-policy', 'same-origin');
  reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()');
  if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', API_CSP);
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
  if (tls) reply.header('strict-transport-security', 'max-age=63072000; includeSubDomains');
  reply.removeHeader('server');
  reply.removeHeader('x-powered-by');
}

/** Whether a request's token is the session's, compared in constant time (for equal lengths). */
export function sameToken(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function zodMessage(where: string, err: z.ZodError): string {
  return err.issues.map((i) => `${where}${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`).join('; ');
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value ?? {});
  if (!r.success) throw new HttpError(400, zodMessage(where, r.error));
  return r.data;
}

export function buildServer(deps: ServerDeps): FastifyInstance {
  const { config } = deps;
  const tls = Boolean(config.tlsCert);
  const app = Fastify({
    ...(tls ? { https: { cert: readFileSync(config.tlsCert!), key: readFileSync(config.tlsKey!) } } : {}),
    logger: {
      level: config.logLevel,
      stream: deps.logStream ?? process.stdout,
      // Belt and braces: nothing below ever logs these, and if it did they would be hidden.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', '*.password', '*.token'], censor: '[redacted]' },
    },
    // Fastify's own request lines would carry the raw URL; ours (onResponse) carry the route.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestIds(),
    bodyLimit: 64 * 1024,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // X-Forwarded-For is believed only from the proxies configured (none by default): the client's
    // address is then the nearest one it names that is not itself a trusted proxy.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    // A socket silent for two minutes is closed (a stalled upload stays resumable); a request
    // as a whole has no time limit, since a live call streams for as long as it lasts.
    connectionTimeout: 120_000,
    keepAliveTimeout: 65_000,
    requestTimeout: 0,
  }) as unknown as FastifyInstance;

  const publicOrigin = config.publicUrl ? new URL(config.publicUrl).origin : undefined;
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(new HttpError(400, 'the body is not valid JSON'), undefined);
    }
  });
  const rawTypes = new Set(deps.routes.flatMap((r) => (r.rawBody ? [r.rawBody.contentType] : [])));
  for (const t of rawTypes) app.addContentTypeParser(t, (_req, _payload, done) => done(null, undefined));

  app.addHook('onSend', async (req, reply, payload) => {
    securityHeaders(reply, tls);
    const routeHeaders = (req.routeOptions.config as { headers?: Record<string, string> } | undefined)?.headers;
    if (routeHeaders) reply.headers(routeHeaders);
    // An answer given before the request body was read to its end (a refused upload):
    // close the connection, or the unread rest of the body would be taken for the next request.
    if (!req.raw.complete) reply.header('connection', 'close');
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    // Route pattern, never the raw URL: a query string may hold a phone number.
    // The stream of a live call's PATCHes and HEADs (thousands a second) is logged at debug level.
    const line = { method: req.method, route: req.routeOptions.url ?? '(unmatched)', status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (reply.statusCode < 400 && (req.method === 'PATCH' || req.method === 'HEAD')) req.log.debug(line, 'request');
    else req.log.info(line, 'request');
  });

  const appPage = appNotFound();
  app.setNotFoundHandler((req, reply) => {
    if (appPage(req, reply)) return;
    reply.code(404).type('application/json').send({ error: 'not found' });
  });

  // Malformed input to sign-in, enrollment, passkey or SSO routes (a bad body, an oversized
  // field, unexpected JSON) is refused with its reason and leaves a trace: probing the doors is
  // an authentication event too.
  const auditRejectedInput = async (req: FastifyRequest, status: number): Promise<void> => {
    const tag = (req.routeOptions.config as { tag?: string } | undefined)?.tag;
    if (tag !== 'access' || (status !== 400 && status !== 413 && status !== 415)) return;
    await deps.audit.record({ action: 'auth.bad_request', actor: actorOf(principals.get(req) ?? { kind: 'anonymous' }), outcome: 'denied', requestId: req.id, source: sourceOf(req),
      details: { route: req.routeOptions.url ?? null, status } }).catch((e: unknown) => req.log.error({ err: { name: (e as Error).name } }, 'audit of a rejected request failed'));
  };

  // Refusals anyone can repeat at will are audited at most once a minute per address and
  // route, each event with the count of refusals it stands for.
  const sampler = createEventSampler({ windowMs: 60_000 });
  const routeOf = (req: FastifyRequest) => req.routeOptions.url ?? null;

  // Refusals for want of a fresh second factor are audited here with their route, unless the
  // service audited its own (recordings, with their care unit); so are sign-in routes over
  // their rate, sampled.
  const auditRefusal = async (req: FastifyRequest, err: HttpError): Promise<void> => {
    if (err.audited) return;
    if (err.code === 'step_up_required') {
      const principal = principals.get(req) ?? { kind: 'anonymous' };
      const policy = (req.routeOptions.config as { policy?: { permission?: string } } | undefined)?.policy;
      await deps.audit.record({ action: 'access.denied', actor: actorOf(principal), outcome: 'denied', requestId: req.id, source: sourceOf(req),
        details: { route: routeOf(req), method: req.method, permission: policy?.permission ?? null, reason: 'step_up_required' } });
    } else if ((err.status === 403 || err.status === 409) && principals.has(req) && (req.routeOptions.config as { tag?: string } | undefined)?.tag === 'users') {
      // A change to people refused past the policy (one's own roles, the last administrator...): who tried what.
      const id = (req.params as { id?: string } | undefined)?.id;
      await deps.audit.record({ action: 'access.denied', actor: actorOf(principals.get(req) ?? { kind: 'anonymous' }), outcome: 'denied', requestId: req.id, source: sourceOf(req),
        ...(id ? { object: { type: 'user' as const, id } } : {}), details: { route: routeOf(req), method: req.method, status: err.status, reason: err.message } });
    } else if (err.code === 'rate_limited') {
      const count = sampler.take(`throttled\n${sourceOf(req)}\n${req.method} ${routeOf(req)}`);
      if (count > 0) {
        await deps.audit.record({ action: 'auth.throttled', actor: actorOf(principals.get(req) ?? { kind: 'anonymous' }), outcome: 'denied', requestId: req.id, source: sourceOf(req),
          details: { route: routeOf(req), method: req.method, count } });
      }
    }
  };

  app.setErrorHandler(async (thrown: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = thrown instanceof HttpError ? thrown.status : thrown.statusCode;
    if (typeof status === 'number') await auditRejectedInput(req, status);
    // A refusal that cannot be audited is answered as the audit log being down (503).
    const err = thrown instanceof HttpError ? await auditRefusal(req, thrown).then(() => thrown, (e: unknown) => e as Error & { statusCode?: number; code?: string }) : thrown;
    if (err instanceof HttpError) {
      const phrase = REASON_PHRASES[err.status];
      if (phrase) reply.raw.statusMessage = phrase;
      reply.headers(err.headers).code(err.status).type('application/json').send(err.code ? { error: err.message, code: err.code } : { error: err.message });
      return;
    }
    if (err instanceof AuditUnavailableError) {
      req.log.error({ reqId: req.id, err: { name: err.name, cause: String((err.cause as Error)?.message ?? '') } }, 'audit log unavailable; request refused');
      reply.code(503).type('application/json').send({ error: 'the audit log cannot be written, so access is refused; try again later' });
      return;
    }
    if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      reply.code(err.statusCode).type('application/json').send({ error: err.message });
      return;
    }
    if (req.raw.destroyed && !req.raw.complete) {
      // The client went away mid-body (disconnected, or its upload was terminated meanwhile):
      // nobody is left to answer, and it is no fault of the server.
      req.log.info({ reqId: req.id, route: routeOf(req), code: err.code }, 'request body ended early: the client went away');
      reply.code(400).type('application/json').send({ error: 'the request body ended early' });
      return;
    }
    req.log.error({ reqId: req.id, err: { name: err.name, code: err.code, message: err.message } }, 'internal error');
    reply.code(500).type('application/json').send({ error: 'internal error' });
  });

  // Default deny at the root: a route added any other way than through a declared policy
  // makes the server refuse to start.
  app.addHook('onRoute', (opts) => {
    const policy = (opts.config as { policy?: unknown } | undefined)?.policy;
    if (!policy) throw new Error(`route ${String(opts.method)} ${opts.url} declares no access policy`);
  });

  for (const def of deps.routes) {
    app.route({
      method: def.method,
      url: def.url,
      config: { policy: def.policy, headers: def.headers, tag: def.tag },
      onRequest: async (req) => {
        if (!namesAnAddress(req)) throw new HttpError(400, 'X-Forwarded-For, from a trusted proxy, names no client address');
        // A browser's request must come from this site: its Origin names the host it was sent to,
        // or the public URL (a proxy in front may send its own Host).
        const origin = req.headers.origin;
        if (origin !== undefined && req.headers.host !== undefined && origin !== 'null' && origin !== publicOrigin) {
          let host = '';
          try { host = new URL(origin).host; } catch { /* compared below */ }
          if (host !== req.headers.host) throw new HttpError(403, 'cross-origin requests are refused');
        }
        let principal: Principal = { kind: 'anonymous' };
        if ('permission' in def.policy) {
          principal = await deps.authenticate(req);
          const permission = def.policy.permission;
          if (principal.kind === 'anonymous') {
            // Knocking on a recording's door without credentials leaves a trace too: the route
            // pattern and the address, never the URL (its query may hold a phone number).
            const count = def.tag === 'recordings' ? sampler.take(`anonymous\n${sourceOf(req)}\n${def.method} ${def.url}`) : 0;
            if (count > 0) {
              await deps.audit.record({ action: 'access.denied', actor: actorOf(principal), outcome: 'denied', requestId: req.id, source: sourceOf(req),
                details: { route: def.url, method: req.method, permission, reason: 'unauthenticated', count } });
            }
            throw new HttpError(401, 'sign in first, or send an API key as Authorization: Bearer');
          }
          // Every refusal by the policy, and every state change without the CSRF token, is audited.
          const deny = (reason: string) => deps.audit.record({
            action: def.tag === 'recordings' ? 'recording.denied' : 'access.denied', actor: actorOf(principal), outcome: 'denied', requestId: req.id, source: sourceOf(req),
            details: { route: def.url, method: req.method, permission, reason },
          });
          if (!can(principal, permission)) {
            await deny('permission');
            throw new HttpError(403, 'not permitted');
          }
          if (principal.kind === 'user' && !SAFE_METHODS.has(req.method) && !sameToken(req.headers['x-csrf-token'], principal.csrfToken)) {
            await deny('csrf');
            throw new HttpError(403, 'missing or wrong X-CSRF-Token header');
          }
        }
        principals.set(req, principal);
        // Raw-body routes check the content type before any body parser can look at it. Any other
        // route reads JSON only: a body of a raw type (which no parser reads) is refused, never taken
        // for an empty one (a search with no filters, say).
        const type = req.headers['content-type']?.split(';')[0]!.trim().toLowerCase();
        if (def.rawBody && type !== undefined && type !== def.rawBody.contentType) {
          throw new HttpError(415, `Content-Type must be ${def.rawBody.contentType}`);
        }
        const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
        if (!def.rawBody && hasBody && type !== undefined && rawTypes.has(type)) throw new HttpError(415, 'Content-Type must be application/json');
      },
      handler: async (req, reply) => {
        const result = await def.handler({
          req, reply,
          principal: principals.get(req) ?? { kind: 'anonymous' },
          params: parse(def.params, req.params, 'path'),
          query: parse(def.query, req.query, 'query'),
          body: parse(def.body, def.rawBody ? undefined : req.body, 'body'),
          requestId: req.id,
          source: sourceOf(req),
        });
        // A handler that sent a stream returns the reply, whose promise settles when the answer
        // ends; cut short (its stream failed), it is no more sent than ended: nothing more to say.
        if (reply.sent || reply.raw.headersSent) return reply;
        if (result === undefined) return reply.code(reply.statusCode === 200 ? 204 : reply.statusCode).send();
        return reply.type('application/json').send(JSON.stringify(result));
      },
    });
  }
  return app;
}

