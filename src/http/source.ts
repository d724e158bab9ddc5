// The address a request comes from, as audited, limited and checked against a key's ranges:
// the client's, as a trusted proxy names it in X-Forwarded-For (Fastify's trustProxy, from
// CALLVAULT_TRUSTED_PROXIES), or the connection's; written one way whatever its spelling
// (lib/net canonicalAddress), so that one client is one key however a proxy writes it.
import type { FastifyRequest } from 'fastify';
import { canonicalAddress } from '../lib/net.ts';

// The address each request is taken to come from, written one way once (null: none).
const named = new WeakMap<FastifyRequest, string | null>();

function namedAddress(req: FastifyRequest): string | null {
  let a = named.get(req);
  if (a === undefined) {
    a = canonicalAddress(req.ip ?? '');
    named.set(req, a);
  }
  return a;
}

/** Whether the address the request is taken to come from is an address (a trusted proxy may have named anything). */
export function namesAnAddress(req: FastifyRequest): boolean {
  return namedAddress(req) !== null;
}

/** The request's source address; the connection's where a trusted proxy named no address (such a request is refused). */
export function sourceOf(req: FastifyRequest): string {
  return namedAddress(req) ?? canonicalAddress(req.socket?.remoteAddress ?? '') ?? 'unknown';
}
