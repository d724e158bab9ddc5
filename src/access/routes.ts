// /api/v1/enrollment and /api/v1/session: enrolling from a one-time link, signing in and out.
import { z } from 'zod';
import { HttpError } from '../http/errors.ts';
import { SESSION_COOKIE } from '../http/authenticate.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { AccountError, SESSION_ABSOLUTE_MS, type Accounts } from './accounts.ts';

const tokenBody = z.strictObject({ token: z.string().max(100) });
const completeBody = z.strictObject({ token: z.string().max(100), password: z.string().max(1024), totpCode: z.string().max(12) });
const signInBody = z.strictObject({ username: z.string().max(64), password: z.string().max(1024), totpCode: z.string().max(12) });

async function accountCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AccountError) throw new HttpError(err.status, err.message);
    throw err;
  }
}

function throttle(limiter: RateLimiter, key: string): void {
  const wait = limiter.hit(key);
  if (wait > 0) throw new HttpError(429, 'too many attempts; wait and try again', { 'retry-after': String(wait) });
}

// __Host- cookies must be Secure; browsers accept Secure cookies from loopback over plain HTTP.
const cookieAttrs = 'Path=/; Secure; HttpOnly; SameSite=Strict';

export function accountRoutes(accounts: Accounts, limiter: RateLimiter): RouteDef[] {
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
      summary: 'Finish enrollment: set the password (12+ characters) and confirm the authenticator with a first code',
      responses: { 204: 'enrolled; sign in next', 400: 'password or code not accepted', 404: 'unknown, used or expired link' },
      async handler({ body, source, requestId }) {
        throttle(limiter, `enroll:${source}`);
        await accountCall(() => accounts.completeEnrollment({ ...body, source, requestId }));
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session', tag: 'access', body: signInBody,
      policy: { public: true, why: 'sign-in' },
      summary: 'Sign in with username, password and authenticator code; sets the session cookie',
      responses: { 200: '{ username, role, csrfToken }', 401: 'wrong credentials (one answer for every cause)', 429: 'too many attempts' },
      async handler({ body, reply, source, requestId }) {
        throttle(limiter, `login:${source}`);
        throttle(limiter, `login-user:${body.username}`);
        const s = await accountCall(() => accounts.signIn({ ...body, source, requestId }));
        reply.header('set-cookie', `${SESSION_COOKIE}=${s.sessionToken}; ${cookieAttrs}; Max-Age=${SESSION_ABSOLUTE_MS / 1000}`);
        return { username: s.user.username, role: s.user.role, csrfToken: s.csrfToken };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/session', tag: 'access', policy: { permission: 'session:self' },
      summary: 'Who is signed in',
      responses: { 200: '{ username, role, csrfToken }' },
      async handler({ principal }) {
        if (principal.kind !== 'user') throw new HttpError(403, 'not a person');
        return { username: principal.username, role: principal.role, csrfToken: principal.csrfToken };
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/v1/session', tag: 'access', policy: { permission: 'session:self' },
      summary: 'Sign out',
      responses: { 204: 'signed out' },
      async handler({ principal, reply }) {
        if (principal.kind !== 'user') throw new HttpError(403, 'not a person');
        await accounts.signOut(principal.sessionHash);
        reply.header('set-cookie', `${SESSION_COOKIE}=; ${cookieAttrs}; Max-Age=0`);
      },
    }),
  ];
}
