// Turns a request's credentials into a Principal. An API key travels as
// `Authorization: Bearer cvk_...`; a person's session as the __Host- cookie.
import type { FastifyRequest } from 'fastify';
import type { Sessions } from '../access/sessions.ts';
import type { ApiKeys } from '../access/api-keys.ts';
import type { Principal } from '../access/policy.ts';
import type { AuditLog } from '../audit/log.ts';
import { HttpError } from './errors.ts';
import { sourceOf } from './source.ts';

export const SESSION_COOKIE = '__Host-callvault';

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

export type Authenticate = (req: FastifyRequest) => Promise<Principal>;

/** Token buckets per API key: `rate` a second, bursts up to two seconds' worth. */
function keyLimiter(now: () => number = Date.now) {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return (keyId: string, rate: number): number => {
    const t = now();
    const b = buckets.get(keyId) ?? { tokens: rate * 2, at: t };
    b.tokens = Math.min(rate * 2, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    buckets.set(keyId, b);
    if (b.tokens < 1) return Math.ceil((1 - b.tokens) / rate);
    b.tokens -= 1;
    return 0;
  };
}

export function createAuthenticate(deps: { sessions: Sessions; apiKeys: ApiKeys; audit: AuditLog }): Authenticate {
  const limit = keyLimiter();
  return async (req) => {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer +(\S+)$/i.exec(auth);
      const key = m ? await deps.apiKeys.verify(m[1]!) : null;
      if (!key) {
        await deps.audit.record({ action: 'apikey.denied', actor: { type: 'anonymous', id: null }, outcome: 'denied', requestId: req.id, source: sourceOf(req) });
        throw new HttpError(401, 'the API key is unknown, malformed or revoked', { 'www-authenticate': 'Bearer' });
      }
      if (!key.allows(sourceOf(req))) {
        await deps.audit.record({ action: 'apikey.denied', actor: { type: 'api_key', id: key.keyId }, outcome: 'denied', requestId: req.id, source: sourceOf(req), details: { reason: 'source address not allowed for this key' } });
        throw new HttpError(403, 'this API key may not be used from this address');
      }
      const wait = limit(key.keyId, key.ratePerS);
      if (wait > 0) throw new HttpError(429, 'this API key is over its request rate; slow down', { 'retry-after': String(wait) });
      return { kind: 'api_key', keyId: key.keyId, scope: key.scope };
    }
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie !== undefined && cookie !== '') {
      const s = await deps.sessions.resolve(cookie);
      if (s.ok) return s.principal;
      // A tampered, stale or revoked cookie gets no session, and leaves a trace.
      await deps.audit.record({ action: 'auth.session_rejected', actor: { type: 'anonymous', id: null }, outcome: 'denied', requestId: req.id, source: sourceOf(req), details: { reason: s.reason } });
    }
    return { kind: 'anonymous' };
  };
}
