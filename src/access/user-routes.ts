// /api/v1/users (administrators) and /api/v1/break-glass (reviewers): managing people and
// closing emergency-access reviews. Every change is audited by the service that makes it.
import { z } from 'zod';
import { HttpError } from '../http/errors.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import type { BreakGlassService } from './break-glass.ts';
import { ROLES } from './policy.ts';
import { accountCall, person, requireStepUp } from './routes.ts';
import type { Users } from './users.ts';
import type { Actor } from '../audit/events.ts';
import type { Principal } from './policy.ts';

const idParams = z.object({ id: z.string().regex(/^[0-9a-f]{32}$/, 'not an id') });
const assignment = {
  roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length),
  careUnits: z.array(z.string().max(64)).max(200).default([]),
  agentId: z.string().max(64).nullable().default(null),
};
const inviteBody = z.strictObject({ username: z.string().max(64), ...assignment });
const assignBody = z.strictObject(assignment);
const reviewQuery = z.strictObject({ state: z.enum(['open', 'closed', 'all']).default('open') });
const reviewBody = z.strictObject({ verdict: z.enum(['justified', 'unjustified']), note: z.string().max(2000).default('') });

/** The acting administrator, who must have proven their second factor within minutes. */
const actorOf = (p: Principal): Actor => {
  const u = person(p);
  requireStepUp(u);
  return { type: 'user', id: u.userId, role: u.roles.join('+') };
};

export function userRoutes(deps: { users: Users; breakGlass: BreakGlassService; enrollUrl: (token: string) => string }): RouteDef[] {
  const { users, breakGlass } = deps;
  const link = (l: { token: string; expiresAt: number }) => ({ enrollUrl: deps.enrollUrl(l.token), expiresAt: new Date(l.expiresAt).toISOString() });
  return [
    defineRoute({
      method: 'GET', url: '/api/v1/users', tag: 'users', policy: { permission: 'users:manage' },
      summary: 'Everyone with an account: roles, care units, status, sign-in kind',
      responses: { 200: '{ items }' },
      handler: async () => ({ items: await users.list() }),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/users', tag: 'users', policy: { permission: 'users:manage' }, body: inviteBody,
      summary: 'Invite a person: roles, care units (supervisors), agent id (agents); returns a one-time enrollment link valid 24 h',
      responses: { 201: '{ user, enrollUrl, expiresAt }', 400: 'invalid username, role or scope', 409: 'the username is taken' },
      async handler({ principal, body, reply, requestId }) {
        const { user, ...l } = await accountCall(() => users.invite({ ...body, actor: actorOf(principal), requestId }));
        reply.code(201);
        return { user, ...link(l) };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/users/:id', tag: 'users', policy: { permission: 'users:manage' }, params: idParams,
      summary: 'One person', responses: { 200: 'the person', 404: 'no such user' },
      async handler({ params }) {
        const u = await users.get(params.id);
        if (!u) throw new HttpError(404, 'no such user');
        return u;
      },
    }),
    defineRoute({
      method: 'PATCH', url: '/api/v1/users/:id', tag: 'users', policy: { permission: 'users:manage' }, params: idParams, body: assignBody,
      summary: "Set a person's roles, care units and agent id; their sessions end at once",
      responses: { 200: 'the person', 400: 'invalid role or scope', 404: 'no such user', 409: 'would leave no administrator' },
      handler: ({ principal, params, body, requestId }) => accountCall(() => users.assign(params.id, body, actorOf(principal), requestId)),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/users/:id/disable', tag: 'users', policy: { permission: 'users:manage' }, params: idParams,
      summary: 'Disable a person; their sessions end at once', responses: { 200: 'the person', 404: 'no such user', 409: 'would leave no administrator' },
      handler: ({ principal, params, requestId }) => accountCall(() => users.disable(params.id, actorOf(principal), requestId)),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/users/:id/enable', tag: 'users', policy: { permission: 'users:manage' }, params: idParams,
      summary: 'Enable a disabled person again', responses: { 200: 'the person', 404: 'no such user', 409: 'not disabled' },
      handler: ({ principal, params, requestId }) => accountCall(() => users.enable(params.id, actorOf(principal), requestId)),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/users/:id/reset-second-factor', tag: 'users', policy: { permission: 'users:manage' }, params: idParams,
      summary: "Reset a person's password, authenticator, passkeys and recovery codes; returns a new enrollment link",
      responses: { 200: '{ enrollUrl, expiresAt }', 404: 'no such user', 409: 'signs in through SSO, or disabled' },
      handler: async ({ principal, params, requestId }) => link(await accountCall(() => users.resetSecondFactor(params.id, actorOf(principal), requestId))),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/users/:id/enrollment', tag: 'users', policy: { permission: 'users:manage' }, params: idParams,
      summary: 'A new enrollment link for a person who has not enrolled yet (earlier links stop working)',
      responses: { 200: '{ enrollUrl, expiresAt }', 404: 'no such user', 409: 'already enrolled' },
      handler: async ({ principal, params, requestId }) => link(await accountCall(() => users.reissue(params.id, actorOf(principal), requestId))),
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/break-glass', tag: 'access', policy: { permission: 'audit:review' }, query: reviewQuery,
      summary: 'Emergency accesses to review (auditors: all; supervisors: their care units; never your own)',
      responses: { 200: '{ items }' },
      handler: async ({ principal, query }) => ({ items: await breakGlass.list(principal, query.state) }),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/break-glass/:id/review', tag: 'access', policy: { permission: 'audit:review' }, params: idParams, body: reviewBody,
      summary: 'Close a break-glass review with a verdict and a note',
      responses: { 200: 'the closed item', 404: 'not yours to review', 409: 'reviewed already' },
      handler: ({ principal, params, body, requestId, source }) => accountCall(() => breakGlass.review(principal, params.id, body.verdict, body.note, { requestId, source })),
    }),
  ];
}
