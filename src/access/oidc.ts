// Single sign-on through an OpenID Connect provider (authorization code flow with PKCE), with
// openid-client as the relying party. The identity provider (IdP) is the source of truth for
// its people: each sign-on sets their roles and care units from its claims.
//
// Invariants:
// - A round trip is one-use and lives 10 minutes: its row in auth_challenges is keyed by the
//   hash of `state` and deleted when the answer comes back, before anything is checked.
// - A round trip is bound to the browser that started it (login CSRF: an attacker's callback
//   URL sent to a victim must not sign the victim in as the attacker). That browser holds a
//   random binder in a cookie; the catalog keeps only its hash. The PKCE verifier and the nonce
//   are derived from the binder, so the catalog holds nothing that could redeem a stolen code.
// - The issuer is exactly the configured one (discovery, the `iss` response parameter and the
//   ID token's `iss`), the audience is our client id, the nonce is ours; the ID token's
//   signature is checked against the IdP's keys as well (non-repudiation checks), not only
//   trusted for having come over TLS.
// - People are found by (issuer, subject) only; never merged with a local account by name.
// - A person with no mapped role, or disabled here, gets no session. Every refusal is audited
//   as auth.sso_denied with a fixed reason, never a token and no claim value but role names.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import * as client from 'openid-client';
import type { Actor } from '../audit/events.ts';
import type { AuditLog } from '../audit/log.ts';
import { newId } from '../catalog/ids.ts';
import type { Database, User } from '../catalog/schema.ts';
import { isLoopback, type OidcConfig } from '../config/config.ts';
import { sha256Hex } from '../lib/hash.ts';
import { AccountError } from './accounts.ts';
import { mapClaims, safeReturnTo, sameAssignment, usernameBase, usernameCandidates } from './oidc-claims.ts';
import type { UserPrincipal } from './policy.ts';
import { newToken, parseJsonList, SESSION_ABSOLUTE_MS, STEP_UP_MS, type Sessions } from './sessions.ts';

export const SSO_ROUND_TRIP_MS = 10 * 60_000;
const PURPOSE = 'oidc';
const DISCOVERY_TTL_MS = 3600_000;
/** A step-up must come from an authentication at the IdP no older than this (seconds). */
const STEP_UP_MAX_AGE_S = 60;
/** The oldest IdP sign-in a new session here accepts: the session's own absolute lifetime. */
const SIGN_IN_MAX_AGE_S = SESSION_ABSOLUTE_MS / 1000;

export interface RequestInfo { source: string; requestId: string }

export interface OidcService {
  /** Where to send the browser, and the binder it must keep (cookie) until it comes back. */
  start(opts: { returnTo?: unknown; stepUpSession?: UserPrincipal } & RequestInfo): Promise<{ url: string; binder: string }>;
  /** Checks the IdP's answer; a new session (token) or, for a step-up, the same session proven again. */
  callback(params: URLSearchParams, info: { binder: string | undefined } & RequestInfo): Promise<{ sessionToken: string | null; returnTo: string }>;
}

interface RoundTrip { binding: string; returnTo: string; session?: string }

/** What an openid-client error means, as a fixed phrase and an HTTP status. */
function classify(err: unknown): { status: number; reason: string } {
  if (err instanceof client.AuthorizationResponseError) return { status: 401, reason: `idp error ${/^[a-z_]{1,40}$/.test(err.error) ? err.error : 'other'}` };
  if (err instanceof client.ResponseBodyError) return { status: 401, reason: `token endpoint ${/^[a-z_]{1,40}$/.test(err.error) ? err.error : 'error'}` };
  if (err instanceof client.ClientError) {
    // The claim or attribute at fault sits in the cause, or in the cause's cause.
    type Named = { claim?: unknown; attribute?: unknown };
    const inner = err.cause as (Named & { message?: string; cause?: Named }) | undefined;
    const claim = inner?.cause?.claim ?? inner?.cause?.attribute ?? inner?.claim ?? inner?.attribute;
    switch (err.code) {
      case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED': return { status: 401, reason: `id token ${typeof claim === 'string' ? claim : 'claim'} mismatch` };
      case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED': return { status: 502, reason: `discovery ${typeof claim === 'string' ? claim : 'attribute'} mismatch` };
      case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED': return { status: 401, reason: 'id token expired, not yet valid or authentication too old' };
      case 'OAUTH_TIMEOUT': case 'OAUTH_ABORT': return { status: 502, reason: 'identity provider timed out' };
      default:
        // The library's own messages are fixed phrases ("unexpected "iss" response parameter value").
        if (err.code?.startsWith('OAUTH_')) return { status: 401, reason: String(inner?.message ?? err.message).slice(0, 120) };
    }
  }
  return { status: 502, reason: 'identity provider unreachable or failed' };
}

export function createOidc(deps: { db: Kysely<Database>; audit: AuditLog; sessions: Sessions; config: OidcConfig; redirectUri: () => string; now?: () => number }): OidcService {
  const { db, audit, sessions, config: cfg } = deps;
  const now = deps.now ?? Date.now;
  const issuerUrl = new URL(cfg.issuer);
  const insecure = issuerUrl.protocol === 'http:' && isLoopback(issuerUrl.hostname.replace(/^\[(.*)\]$/, '$1'));

  let discovered: { at: number; config: Promise<client.Configuration> } | undefined;
  /** The IdP's metadata, fetched when first needed (callvault starts even while the IdP is down). */
  function configuration(): Promise<client.Configuration> {
    if (discovered && now() - discovered.at < DISCOVERY_TTL_MS) return discovered.config;
    const execute = [client.enableNonRepudiationChecks, ...(insecure ? [client.allowInsecureRequests] : [])];
    const mine = { at: now(), config: client.discovery(issuerUrl, cfg.clientId, { client_secret: cfg.clientSecret }, client.ClientSecretBasic(cfg.clientSecret), { execute, timeout: 10 }) };
    discovered = mine;
    mine.config.catch(() => { if (discovered === mine) discovered = undefined; }); // a failure is tried again next time
    return mine.config;
  }

  /** The PKCE verifier and the nonce of a round trip: only the browser's binder can make them. */
  const derive = (binder: string, state: string, what: 'pkce' | 'nonce') => createHmac('sha256', binder).update(`${what}:${state}`).digest('base64url');

  async function deny(status: number, reason: string, message: string, info: RequestInfo, extra: { actor?: Actor; details?: Record<string, unknown> } = {}): Promise<never> {
    await audit.record({ action: 'auth.sso_denied', actor: extra.actor ?? { type: 'anonymous', id: null }, outcome: 'denied', source: info.source, requestId: info.requestId, details: { reason, ...extra.details } });
    throw new AccountError(status, message);
  }

  async function configurationOr(info: RequestInfo): Promise<client.Configuration> {
    try {
      return await configuration();
    } catch (err) {
      const { reason } = classify(err);
      return deny(502, reason, 'single sign-on is unavailable: the identity provider could not be reached or does not match the configured issuer', info);
    }
  }

  async function freeUsername(trx: Kysely<Database>, claim: unknown): Promise<string> {
    for (const name of usernameCandidates(usernameBase(claim))) {
      if (!(await trx.selectFrom('users').select('id').where('username', '=', name).executeTakeFirst())) return name;
    }
    throw new AccountError(409, 'no free username for this person; ask an administrator');
  }

  return {
    async start({ returnTo, stepUpSession, ...info }) {
      await db.deleteFrom('auth_challenges').where('purpose', '=', PURPOSE).where('expires_at', '<=', now()).execute();
      if (stepUpSession) {
        const u = await db.selectFrom('users').select('oidc_subject').where('id', '=', stepUpSession.userId).executeTakeFirst();
        if (!u?.oidc_subject) throw new AccountError(409, 'you do not sign in through single sign-on; confirm your second factor with POST /api/v1/session/step-up');
      }
      const c = await configurationOr(info);
      const state = client.randomState();
      const binder = newToken();
      const trip: RoundTrip = { binding: sha256Hex(binder), returnTo: safeReturnTo(returnTo), ...(stepUpSession ? { session: stepUpSession.sessionHash } : {}) };
      await db.insertInto('auth_challenges').values({
        id_hash: sha256Hex(state), purpose: PURPOSE, user_id: stepUpSession?.userId ?? null, data: JSON.stringify(trip), expires_at: now() + SSO_ROUND_TRIP_MS,
      }).execute();
      const params: Record<string, string> = {
        redirect_uri: deps.redirectUri(), scope: cfg.scopes.join(' '), state, nonce: derive(binder, state, 'nonce'),
        code_challenge: await client.calculatePKCECodeChallenge(derive(binder, state, 'pkce')), code_challenge_method: 'S256',
      };
      // A step-up asks the IdP to authenticate the person again, not to reuse its own session.
      // A sign-in accepts the IdP's session up to a working day old, and asking with max_age
      // makes the IdP say when the person last signed in (auth_time, OIDC Core 3.1.2.1): only
      // a sign-in at the IdP within the last minutes counts as a step-up here.
      Object.assign(params, stepUpSession ? { prompt: 'login', max_age: '0' } : { max_age: String(SIGN_IN_MAX_AGE_S) });
      return { url: client.buildAuthorizationUrl(c, params).href, binder };
    },

    async callback(params, info) {
      const state = params.get('state');
      if (!state || state.length > 512) return deny(400, 'missing state', 'the sign-in answer carries no state; start again from the sign-in page', info);
      // Deleted before any check: whatever happens next, this round trip cannot be tried again.
      const row = await db.deleteFrom('auth_challenges').where('id_hash', '=', sha256Hex(state)).where('purpose', '=', PURPOSE).returningAll().executeTakeFirst();
      if (!row) return deny(400, 'unknown or used state', 'this sign-in answer is unknown or was already used; start again from the sign-in page', info);
      if (row.expires_at <= now()) return deny(400, 'expired', 'this sign-in took too long; start again from the sign-in page', info);
      const trip = JSON.parse(row.data) as RoundTrip;
      const seen = Buffer.from(sha256Hex(info.binder ?? ''));
      const bound = info.binder !== undefined && seen.length === Buffer.byteLength(trip.binding) && timingSafeEqual(seen, Buffer.from(trip.binding));
      if (!bound) return deny(400, 'other browser', 'this sign-in was started in another browser (or its cookie is gone); start again from the sign-in page', info);
      const binder = info.binder!;

      const c = await configurationOr(info);
      const currentUrl = new URL(deps.redirectUri());
      for (const [k, v] of params) currentUrl.searchParams.append(k, v);
      let claims: Record<string, unknown>;
      try {
        const tokens = await client.authorizationCodeGrant(c, currentUrl, {
          expectedState: state, expectedNonce: derive(binder, state, 'nonce'), pkceCodeVerifier: derive(binder, state, 'pkce'),
          maxAge: trip.session ? STEP_UP_MAX_AGE_S : SIGN_IN_MAX_AGE_S,
        });
        const id = tokens.claims()!;
        claims = { ...id };
        // Many IdPs put only `sub` in the ID token and the rest behind the userinfo endpoint.
        const wanted = [cfg.roleClaim, cfg.unitClaim, cfg.usernameClaim, ...(cfg.agentClaim ? [cfg.agentClaim] : [])];
        if (wanted.some((k) => !(k in id)) && c.serverMetadata().userinfo_endpoint) {
          claims = { ...(await client.fetchUserInfo(c, tokens.access_token, id.sub)), ...id };
        }
      } catch (err) {
        const { status, reason } = classify(err);
        return deny(status, reason, status === 502 ? 'the identity provider could not be reached; try again later' : 'the identity provider\'s answer was not accepted; start again from the sign-in page', info);
      }

      const issuer = c.serverMetadata().issuer;
      const subject = String(claims.sub);
      const mapped = mapClaims(claims, cfg);
      const existing = await db.selectFrom('users').selectAll().where('oidc_issuer', '=', issuer).where('oidc_subject', '=', subject).executeTakeFirst();
      const actor: Actor = existing ? { type: 'user', id: existing.id } : { type: 'anonymous', id: null };
      if (existing && existing.status !== 'active') return deny(403, `user ${existing.status}`, 'your account here is disabled; ask an administrator', info, { actor });
      if (mapped.roles.length === 0) {
        // The IdP no longer gives this person a role here: what they held goes now, with their sessions.
        if (existing && parseJsonList(existing.roles).length > 0) {
          await db.transaction().execute(async (trx) => {
            await trx.updateTable('users').set({ roles: '[]', care_units: '[]', agent_id: null, updated_at: now() }).where('id', '=', existing.id).execute();
            const ended = await sessions.endAllOf(existing.id, trx);
            await audit.record({ action: 'user.updated', actor: { type: 'system', id: 'sso' }, outcome: 'success', object: { type: 'user', id: existing.id }, source: info.source, requestId: info.requestId,
              details: { roles: [], careUnits: [], before: { roles: parseJsonList(existing.roles), careUnits: parseJsonList(existing.care_units) }, sessionsEnded: ended, via: 'sso' } }, trx);
          });
        }
        return deny(403, mapped.dropped.length ? 'no usable role' : 'no mapped role', 'your identity provider gives you no role in callvault; ask an administrator', info,
          { actor, details: { roleValues: mapped.unmapped, dropped: mapped.dropped } });
      }
      if (trip.session && existing?.id !== row.user_id) return deny(403, 'step-up by another person', 'you signed in at the identity provider as someone else', info, { actor });

      const assignment = { roles: mapped.roles, careUnits: mapped.careUnits, agentId: mapped.agentId };
      const system: Actor = { type: 'system', id: 'sso' };
      const signOn = () => db.transaction().execute(async (trx) => {
        let user: User;
        let changed = false;
        if (!existing) {
          user = {
            id: newId(), username: await freeUsername(trx, claims[cfg.usernameClaim]), roles: JSON.stringify(assignment.roles), care_units: JSON.stringify(assignment.careUnits),
            agent_id: assignment.agentId, status: 'active', password_hash: null, totp_sealed: null, totp_last_step: null,
            oidc_issuer: issuer, oidc_subject: subject, created_at: now(), updated_at: now(),
          };
          await trx.insertInto('users').values(user).execute();
          await audit.record({ action: 'user.provisioned', actor: system, outcome: 'success', object: { type: 'user', id: user.id }, source: info.source, requestId: info.requestId,
            details: { roles: assignment.roles, careUnits: assignment.careUnits, agentId: assignment.agentId !== null, dropped: mapped.dropped } }, trx);
        } else {
          user = existing;
          const before = { roles: parseJsonList(user.roles), careUnits: parseJsonList(user.care_units), agentId: user.agent_id };
          if (!sameAssignment(before as typeof assignment, assignment)) {
            // What the person may do changed at the IdP: their other sessions end, as with any change here.
            changed = true;
            await trx.updateTable('users').set({ roles: JSON.stringify(assignment.roles), care_units: JSON.stringify(assignment.careUnits), agent_id: assignment.agentId, updated_at: now() })
              .where('id', '=', user.id).execute();
            const ended = await sessions.endAllOf(user.id, trx);
            await audit.record({ action: 'user.updated', actor: system, outcome: 'success', object: { type: 'user', id: user.id }, source: info.source, requestId: info.requestId,
              details: { roles: assignment.roles, careUnits: assignment.careUnits, agentId: assignment.agentId !== null, before: { roles: before.roles, careUnits: before.careUnits }, sessionsEnded: ended, via: 'sso' } }, trx);
          }
        }
        const role = assignment.roles.join('+');
        if (trip.session && !changed) {
          const proven = await trx.updateTable('sessions').set({ step_up_at: now() }).where('id_hash', '=', trip.session).where('user_id', '=', user.id).executeTakeFirst();
          if (Number(proven.numUpdatedRows) === 1) {
            await audit.record({ action: 'auth.step_up', actor: { type: 'user', id: user.id, role }, outcome: 'success', source: info.source, requestId: info.requestId, details: { factor: 'oidc' } }, trx);
            return { sessionToken: null };
          }
        }
        // The sign-in counts as a step-up only when the person really signed in at the IdP just
        // now (auth_time), not when the IdP answered silently from its own session.
        const authTime = typeof claims.auth_time === 'number' ? claims.auth_time * 1000 : 0;
        const s = await sessions.create(trx, { userId: user.id, method: 'oidc', stepUp: now() - authTime < STEP_UP_MS });
        await audit.record({ action: 'auth.login', actor: { type: 'user', id: user.id, role }, outcome: 'success', object: { type: 'session', id: s.sessionId }, source: info.source, requestId: info.requestId, details: { method: 'oidc' } }, trx);
        return { sessionToken: s.sessionToken };
      });
      let result: Awaited<ReturnType<typeof signOn>>;
      try {
        result = await signOn();
      } catch (err) {
        // Two first sign-ons of one person at once: the second insert meets the first's row.
        const raced = !existing && await db.selectFrom('users').select('id').where('oidc_issuer', '=', issuer).where('oidc_subject', '=', subject).executeTakeFirst();
        if (raced) return deny(409, 'concurrent first sign-on', 'you were just signed on in another window; start again from the sign-in page', info);
        throw err;
      }
      return { ...result, returnTo: trip.returnTo };
    },
  };
}
