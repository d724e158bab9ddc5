// Turns a request's credentials into a Principal. An API key travels as
// `Authorization: Bearer cvk_...`; a person's session as the __Host- cookie.
import type { FastifyRequest } from 'fastify';
import type { Accounts } from '../access/accounts.ts';
import type { ApiKeys } from '../access/api-keys.ts';
import type { Principal } from '../access/policy.ts';
import type { AuditLog } from '../audit/log.ts';
import { HttpError } from './errors.ts';

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

export function createAuthenticate(deps: { accounts: Accounts; apiKeys: ApiKeys; audit: AuditLog }): Authenticate {
  return async (req) => {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer +(\S+)$/i.exec(auth);
      const key = m ? await deps.apiKeys.verify(m[1]!) : null;
      if (!key) {
        await deps.audit.record({ action: 'apikey.denied', actor: { type: 'anonymous', id: null }, outcome: 'denied', requestId: req.id, source: req.ip });
        throw new HttpError(401, 'the API key is unknown, malformed or revoked', { 'www-authenticate': 'Bearer' });
      }
      return { kind: 'api_key', keyId: key.keyId, scope: key.scope };
    }
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie !== undefined) {
      const p = await deps.accounts.resolveSession(cookie);
      if (p) return p;
    }
    return { kind: 'anonymous' };
  };
}
