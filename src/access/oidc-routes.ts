// /api/v1/sso: single sign-on through the configured OpenID provider. Registered only when
// single sign-on is configured (CALLVAULT_OIDC_*).
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { readCookie } from '../http/authenticate.ts';
import { HttpError } from '../http/errors.ts';
import { createRateLimiter, type RateLimiter } from '../http/rate-limit.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { AccountError } from './accounts.ts';
import { SSO_ROUND_TRIP_MS, type OidcService } from './oidc.ts';
import { accountCall, person, sessionCookie, throttle } from './routes.ts';

/**
 * The browser's half of a round trip (see oidc.ts). SameSite=Lax, not Strict: the IdP sends the
 * browser back with a cross-site top-level GET, on which Lax cookies travel and Strict ones don't.
 * One round trip per browser at a time: starting another (a second tab) replaces the binder, and
 * the first one's answer is then refused as from another browser; the person starts again.
 */
export const SSO_COOKIE = '__Host-callvault-sso';
const binderCookie = (value: string, maxAgeS: number) => `${SSO_COOKIE}=${value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}`;
const clearBinder = binderCookie('', 0);

const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The answer to a successful callback: a page that moves on by itself, rather than a 302.
 * The session cookie is SameSite=Strict. The browser stores it from this response, but the
 * navigation here was started by the IdP's page, so a redirect from here is still part of a
 * cross-site navigation and browsers do not send Strict cookies with it: the landing page would
 * arrive as if signed out. A refresh from a page of our own is a same-site navigation that does
 * carry the cookie. (A meta refresh, not a script: the CSP allows no inline script.)
 */
function onwardPage(to: string): string {
  const t = html(to);
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=${t}">` +
    `<title>callvault: signed in</title></head><body><p>Signed in. <a href="${t}">Continue to callvault</a></p></body></html>\n`;
}

const startQuery = z.strictObject({ returnTo: z.string().max(512).optional() });

export function oidcRoutes(deps: { oidc: OidcService; limiter?: RateLimiter }): RouteDef[] {
  // Its own limiter: one person's sign-on costs a start and a callback, and many people behind
  // one address sign on at the start of a shift.
  const limiter = deps.limiter ?? createRateLimiter({ limit: 60, windowMs: 60_000 });
  const redirect = (reply: FastifyReply, url: string, binder: string) =>
    reply.code(302).header('location', url).header('set-cookie', binderCookie(binder, SSO_ROUND_TRIP_MS / 1000)).send();
  return [
    defineRoute({
      method: 'GET', url: '/api/v1/sso', tag: 'access', policy: { public: true, why: 'the sign-in page asks whether to offer single sign-on' },
      summary: 'Whether single sign-on is offered, and where it starts',
      responses: { 200: '{ enabled: true, start }' },
      handler: async () => ({ enabled: true, start: '/api/v1/sso/start' }),
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/sso/start', tag: 'access', query: startQuery, policy: { public: true, why: 'sign-in through the identity provider' },
      summary: 'Begin single sign-on: redirects to the identity provider (code flow with PKCE); returnTo is a path here to land on afterwards',
      responses: { 302: 'to the identity provider', 429: 'too many attempts', 502: 'the identity provider is unreachable or not the configured issuer' },
      async handler({ reply, query, source, requestId }) {
        throttle(limiter, `sso:${source}`);
        const { url, binder } = await accountCall(() => deps.oidc.start({ returnTo: query.returnTo, source, requestId }));
        return redirect(reply, url, binder);
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/sso/step-up', tag: 'access', query: startQuery, policy: { permission: 'session:self' },
      summary: 'Prove yourself again at the identity provider (people who sign in through single sign-on); download and export need it within 5 minutes',
      responses: { 302: 'to the identity provider, which asks the person to authenticate again', 409: 'not a single sign-on account' },
      async handler({ reply, principal, query, source, requestId }) {
        throttle(limiter, `sso:${source}`);
        const { url, binder } = await accountCall(() => deps.oidc.start({ returnTo: query.returnTo, stepUpSession: person(principal), source, requestId }));
        return redirect(reply, url, binder);
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/sso/callback', tag: 'access', policy: { public: true, why: 'the identity provider sends the browser back here' },
      summary: 'Where the identity provider sends the browser back: checks its answer, sets the session cookie and moves on to returnTo',
      responses: { 200: 'a page that moves on to returnTo (session cookie set)', 400: 'missing, unknown, used or expired state, or another browser', 401: 'the answer or its ID token was not accepted', 403: 'no mapped role, or disabled here', 502: 'the identity provider is unreachable' },
      async handler({ req, reply, source, requestId }) {
        throttle(limiter, `sso-callback:${source}`);
        // The raw query: repeated parameters must reach the checks (which refuse them), not be merged.
        const params = new URL(req.url, 'http://callvault.invalid').searchParams;
        let r: Awaited<ReturnType<OidcService['callback']>>;
        try {
          r = await deps.oidc.callback(params, { binder: readCookie(req, SSO_COOKIE), source, requestId });
        } catch (err) {
          if (err instanceof AccountError) throw new HttpError(err.status, err.message, { ...err.headers, 'set-cookie': clearBinder });
          throw err;
        }
        reply.code(200).type('text/html; charset=utf-8').header('set-cookie', r.sessionToken ? [clearBinder, sessionCookie(r.sessionToken)] : clearBinder);
        return reply.send(onwardPage(r.returnTo));
      },
    }),
  ];
}
