// /api/v1/enrollment and /api/v1/session: enrolling from a one-time link, signing in and out,
// proving the second factor again (step-up), recovery codes.
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { HttpError } from '../http/errors.ts';
import { SESSION_COOKIE } from '../http/authenticate.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import type { AuditLog } from '../audit/log.ts';
import { AccountError, type Accounts } from './accounts.ts';
import { PERMISSIONS, can, type Principal, type UserPrincipal } from './policy.ts';
import { SESSION_ABSOLUTE_MS, STEP_UP_MS, steppedUp, type Sessions } from './sessions.ts';

const tokenBody = z.strictObject({ token: z.string().max(100) });
const completeBody = z.strictObject({ token: z.string().max(100), password: z.string().max(1024), totpCode: z.string().max(12) });
const factor = { totpCode: z.string().max(12).optional(), recoveryCode: z.string().max(40).optional() };
const signInBody = z.strictObject({ username: z.string().max(64), password: z.string().max(1024), ...factor })
  .refine((b) => (b.totpCode === undefined) !== (b.recoveryCode === undefined), 'give either totpCode or recoveryCode');
const stepUpBody = z.strictObject(factor).refine((b) => (b.totpCode === undefined) !== (b.recoveryCode === undefined), 'give either totpCode or recoveryCode');

/** Runs a service call, turning its AccountError into the HTTP answer it describes. */
export async function accountCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AccountError) throw new HttpError(err.status, err.message, err.headers);
    throw err;
  }
}

export function throttle(limiter: RateLimiter, key: string): void {
  const wait = limiter.hit(key);
  // Audited by the server, at most once a minute per address and route (code rate_limited).
  if (wait > 0) throw new HttpError(429, 'too many attempts; wait and try again', { 'retry-after': String(wait) }, 'rate_limited');
}

/** Download, export, erasure, user management and factor changes need a fresh second factor. */
export function requireStepUp(p: Principal, now = Date.now()): void {
  if (p.kind === 'user' && !steppedUp(p, now)) {
    throw new HttpError(403, 'confirm your second factor again first (POST /api/v1/session/step-up)', {}, 'step_up_required');
  }
}

export function person(p: Principal): UserPrincipal {
  if (p.kind !== 'user') throw new HttpError(403, 'only a signed-in person can do this');
  return p;
}

// __Host- cookies must be Secure; browsers accept Secure cookies from loopback over plain HTTP.
const cookieAttrs = 'Path=/; Secure; HttpOnly; SameSite=Strict';
export const sessionCookie = (token: string) => `${SESSION_COOKIE}=${token}; ${cookieAttrs}; Max-Age=${SESSION_ABSOLUTE_MS / 1000}`;

/** Hands a new session to the browser (its cookie) and says who is now signed in. */
export async function openedSession(reply: FastifyReply, sessions: Sessions, sessionToken: string) {
  reply.header('set-cookie', sessionCookie(sessionToken));
  const resolved = await sessions.resolve(sessionToken);
  if (!resolved.ok) throw new HttpError(401, 'the session ended at once; sign in again');
  return whoAmI(resolved.principal);
}

/** What the browser app needs to know about the signed-in person. */
export function whoAmI(p: UserPrincipal, now = Date.now()) {
  return {
    username: p.username, roles: p.roles, careUnits: p.careUnits, agentId: p.agentId, csrfToken: p.csrfToken, authMethod: p.authMethod,
    permissions: PERMISSIONS.filter((perm) => can(p, perm)),
    stepUpUntil: steppedUp(p, now) ? new Date(p.stepUpAt! + STEP_UP_MS).toISOString() : null,
  };
}

export function accountRoutes(deps: { accounts: Accounts; sessions: Sessions; audit: AuditLog; limiter: RateLimiter }): RouteDef[] {
  const { accounts, sessions, limiter } = deps;
  return [
    defineRoute({
      method: 'POST', url: '/api/v1/enrollment/start', tag: 'access', body: tokenBody,
      policy: { public: true, why: 'the one-time enrollment token is the credential' },
      summary: 'Begin enrollment from a one-time link: returns the TOTP secret to add to an authenticator app',
      responses: { 200: '{ username, totpSecret, otpauthUri }', 404: 'unknown, used or expired link', 429: 'too many attempts' },
      async handler({ body, source, requestId }) {
        throttle(limiter, `enroll:${source}`);
        return accountCall(() => accounts.startEnrollment({ token: body.token, source, requestId }));
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/enrollment/complete', tag: 'access', body: completeBody,
      policy: { public: true, why: 'the one-time enrollment token is the credential' },
      summary: 'Finish enrollment: set the password (12+ characters, not a common one) and confirm the authenticator with a first code',
      responses: { 200: '{ recoveryCodes }: ten one-time codes, shown this once', 400: 'password or code not accepted', 404: 'unknown, used or expired link' },
      async handler({ body, source, requestId }) {
        throttle(limiter, `enroll:${source}`);
        return accountCall(() => accounts.completeEnrollment({ ...body, source, requestId }));
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session', tag: 'access', body: signInBody,
      policy: { public: true, why: 'sign-in' },
      summary: 'Sign in with username, password and an authenticator code (or a recovery code); sets the session cookie',
      responses: { 200: 'who is signed in', 401: 'wrong credentials (one answer for every cause)', 429: 'locked for a while after repeated failures' },
      async handler({ body, reply, source, requestId }) {
        throttle(limiter, `login:${source}`);
        const s = await accountCall(() => accounts.signIn({ ...body, source, requestId }));
        return openedSession(reply, sessions, s.sessionToken);
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/session', tag: 'access', policy: { permission: 'session:self' },
      summary: 'Who is signed in: roles, care units, permissions, CSRF token, step-up validity',
      responses: { 200: '{ username, roles, careUnits, permissions, csrfToken, stepUpUntil }' },
      handler: async ({ principal }) => whoAmI(person(principal)),
    }),
    defineRoute({
      method: 'DELETE', url: '/api/v1/session', tag: 'access', policy: { permission: 'session:self' },
      summary: 'Sign out',
      responses: { 204: 'signed out' },
      async handler({ principal, reply, source, requestId }) {
        const p = person(principal);
        await sessions.end(p.sessionHash);
        await deps.audit.record({ action: 'auth.logout', actor: { type: 'user', id: p.userId }, outcome: 'success', object: { type: 'session', id: p.sessionHash.slice(0, 16) }, source, requestId });
        reply.header('set-cookie', `${SESSION_COOKIE}=; ${cookieAttrs}; Max-Age=0`);
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session/step-up', tag: 'access', policy: { permission: 'session:self' }, body: stepUpBody,
      summary: 'Prove the second factor again (authenticator or recovery code); download and export need it within 5 minutes',
      responses: { 200: 'who is signed in, with stepUpUntil', 401: 'code not right', 429: 'locked for a while' },
      async handler({ principal, body, source, requestId }) {
        const p = person(principal);
        await accountCall(() => accounts.stepUp(p, body, { source, requestId }));
        return whoAmI({ ...p, stepUpAt: Date.now() });
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session/recovery-codes', tag: 'access', policy: { permission: 'session:self' },
      summary: 'Replace your recovery codes (needs a step-up within 5 minutes); the new ones are shown this once',
      responses: { 200: '{ recoveryCodes }', 403: 'step-up required' },
      async handler({ principal, source, requestId }) {
        const p = person(principal);
        requireStepUp(p);
        return accountCall(() => accounts.regenerateRecoveryCodes(p, { source, requestId }));
      },
    }),
  ];
}
