// /api/v1/keys and /api/v1/settings: what administrators manage besides people. API keys are
// created (the secret shown once), listed without secrets, and revoked at once; settings are
// shown as the server runs with them (changed through configuration, never through the API).
import { z } from 'zod';
import type { AlertRules } from '../audit/alerts.ts';
import type { Config } from '../config/config.ts';
import { describeWitness, witnessOf } from '../config/config.ts';
import { HttpError } from '../http/errors.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { ApiKeyInputError, type ApiKeys } from './api-keys.ts';
import { BREAK_GLASS_MINUTES } from './break-glass.ts';
import { actorOf, ROLE_DESCRIPTIONS } from './policy.ts';
import { requireStepUp } from './routes.ts';
import { SESSION_ABSOLUTE_MS, SESSION_IDLE_MS, STEP_UP_MS } from './sessions.ts';
import { ACCOUNT_RULE, ADDRESS_RULE } from './throttle.ts';

const createBody = z.strictObject({
  name: z.string().min(1).max(100),
  scope: z.enum(['ingest']),
  allow: z.array(z.string().max(64)).max(100).optional(),
  ratePerS: z.number().int().min(1).max(1_000_000).optional(),
});
const keyParams = z.object({ id: z.string().regex(/^[0-9a-f]{16}$/, 'not a key id') });

export function adminRoutes(deps: { apiKeys: ApiKeys; config: Config; publicUrl: () => string; alertRules: AlertRules }): RouteDef[] {
  const { apiKeys } = deps;
  return [
    defineRoute({
      method: 'GET', url: '/api/v1/keys', tag: 'admin', policy: { permission: 'keys:manage' },
      summary: 'API keys: name, scope, source ranges, rate, created, revoked (never the secret)',
      responses: { 200: '{ items }' },
      handler: async () => ({
        items: (await apiKeys.list()).map((k) => ({
          ...k, createdAt: new Date(k.createdAt).toISOString(), revokedAt: k.revokedAt ? new Date(k.revokedAt).toISOString() : null,
          lastUsedAt: k.lastUsedAt ? new Date(k.lastUsedAt).toISOString() : null,
        })),
      }),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/keys', tag: 'admin', policy: { permission: 'keys:manage' }, body: createBody,
      summary: 'Create an ingest key; its secret is in this answer only',
      responses: { 201: '{ id, token }', 400: 'invalid name, scope, range or rate' },
      async handler({ principal, body, reply }) {
        requireStepUp(principal);
        try {
          const key = await apiKeys.create({ ...body, actor: actorOf(principal) });
          reply.code(201);
          return key;
        } catch (err) {
          if (err instanceof ApiKeyInputError) throw new HttpError(400, err.message);
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/keys/:id/revoke', tag: 'admin', policy: { permission: 'keys:manage' }, params: keyParams,
      summary: 'Revoke a key at once, including for uploads in flight',
      responses: { 204: 'revoked', 404: 'no such active key' },
      async handler({ principal, params }) {
        requireStepUp(principal);
        if (!(await apiKeys.revoke(params.id, actorOf(principal)))) throw new HttpError(404, 'no such active key');
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/settings', tag: 'admin', policy: { permission: 'settings:manage' },
      summary: 'The settings the server runs with (read-only; change them through configuration)',
      responses: { 200: 'settings' },
      handler: async () => {
        const c = deps.config;
        return {
          publicUrl: deps.publicUrl(), tls: Boolean(c.tlsCert), listen: `${c.listen.host}:${c.listen.port}`,
          trustedProxies: c.trustedProxies.length > 0 ? c.trustedProxies : null,
          sessions: { idleMinutes: SESSION_IDLE_MS / 60_000, absoluteHours: SESSION_ABSOLUTE_MS / 3_600_000, stepUpMinutes: STEP_UP_MS / 60_000 },
          lockout: { account: ACCOUNT_RULE, address: ADDRESS_RULE },
          breakGlassMinutes: BREAK_GLASS_MINUTES,
          singleSignOn: c.oidc ? { issuer: c.oidc.issuer, clientId: c.oidc.clientId } : null,
          ingest: { maxUploadBytes: c.maxUploadBytes, uploadIdleSeconds: c.uploadIdleSeconds },
          retention: { days: c.retentionDays ?? null, byUnit: Object.entries(c.retentionByUnit).map(([unit, days]) => `${unit}=${days}`) },
          audit: { witness: describeWitness(witnessOf(c)), checkpointSeconds: 60, alerts: { ...deps.alertRules, webhook: deps.alertRules.webhook ? 'configured' : null } },
          roles: ROLE_DESCRIPTIONS,
        };
      },
    }),
  ];
}
