// Passkeys (WebAuthn): a person adds one to their account, then signs in with it alone or
// proves it again within a session (step-up). A passkey signs with user verification (PIN or
// biometric on the device), so one assertion proves both "something you have" and "something
// you know or are": it counts as both factors.
//
// Invariants:
// - A challenge is random, stored only as a hash, bound to one purpose (and, except for sign-in,
//   one person), lives 5 minutes and is deleted when it is first presented, before verification:
//   a replayed or failed assertion can never be tried again.
// - Adding or removing a passkey needs a second factor proven within the last 5 minutes.
// - The signature counter must grow (unless the authenticator keeps none: always 0). It is
//   compared only after the signature holds, so only a genuine assertion can report a clone.
// - Every failed sign-in gets one answer; the audit log keeps the reason, as a fixed phrase,
//   never a string the client sent.
import { randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { COSEALG } from '@simplewebauthn/server/helpers';
import type { Kysely, Selectable } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import type { Database, PasskeyTable } from '../catalog/schema.ts';
import { sha256Hex } from '../lib/hash.ts';
import { AccountError } from './accounts.ts';
import type { UserPrincipal } from './policy.ts';
import { parseJsonList, steppedUp, type Sessions } from './sessions.ts';

export const CHALLENGE_TTL_MS = 5 * 60_000;
export const MAX_PASSKEYS = 20;
const PURPOSES = ['passkey-register', 'passkey-login', 'passkey-step-up'] as const;
type Purpose = (typeof PURPOSES)[number];
// Stated, not the library's default: that adds ML-DSA when Node offers it, still experimental there.
const ALGORITHMS = [COSEALG.ES256, COSEALG.EdDSA, COSEALG.RS256];

export const SIGN_IN_REFUSED = 'the passkey was not accepted; try again or sign in with your password';
const STEP_UP_REFUSED = 'the passkey was not accepted';
export const STEP_UP_FIRST = 'confirm your second factor again first (POST /api/v1/session/step-up)';

export interface PasskeyView { id: string; name: string; transports: string[]; createdAt: string; lastUsedAt: string | null }
export interface RequestInfo { source: string; requestId: string }
type Key = Selectable<PasskeyTable>;

export interface Passkeys {
  registrationOptions(p: UserPrincipal): Promise<PublicKeyCredentialCreationOptionsJSON>;
  verifyRegistration(p: UserPrincipal, response: RegistrationResponseJSON, name: string, info: RequestInfo): Promise<PasskeyView>;
  /** Options for signing in with a discoverable passkey: no username asked. */
  authenticationOptions(): Promise<PublicKeyCredentialRequestOptionsJSON>;
  signInWithPasskey(response: AuthenticationResponseJSON, info: RequestInfo): Promise<{ sessionToken: string; csrfToken: string }>;
  stepUpOptions(p: UserPrincipal): Promise<PublicKeyCredentialRequestOptionsJSON>;
  stepUpWithPasskey(p: UserPrincipal, response: AuthenticationResponseJSON, info: RequestInfo): Promise<void>;
  list(p: UserPrincipal): Promise<PasskeyView[]>;
  remove(p: UserPrincipal, id: string, info: RequestInfo): Promise<void>;
}

/** Why the library refused a response, as a fixed word (its messages quote client strings). */
function why(err: unknown): string {
  const m = err instanceof Error ? err.message : '';
  for (const [re, word] of [[/origin/i, 'origin'], [/RP ID/i, 'rp id'], [/User verification/i, 'user verification'], [/User not present/i, 'user presence'],
    [/challenge/i, 'challenge'], [/response type/i, 'type']] as const) {
    if (re.test(m)) return word;
  }
  return 'malformed response';
}

/** The challenge a client signed, read from its clientDataJSON; null when there is none of ours. */
function challengeOf(clientDataJSON: string): string | null {
  try {
    const v = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof v.challenge === 'string' && /^[A-Za-z0-9_-]{43}$/.test(v.challenge) ? v.challenge : null;
  } catch {
    return null;
  }
}

// The WebAuthn user handle is the account id (random, says nothing about the person).
const userHandleOf = (userId: string) => new TextEncoder().encode(userId);
const handleMatches = (handle: string | undefined | null, userId: string) => !handle || Buffer.from(handle, 'base64url').toString('utf8') === userId;
/** How audit events name a credential: a prefix of its (public, random) id. */
const shortId = (id: string) => id.slice(0, 16);

const view = (k: Key): PasskeyView => ({
  id: k.id, name: k.name, transports: parseJsonList(k.transports), createdAt: new Date(k.created_at).toISOString(),
  lastUsedAt: k.last_used_at === null ? null : new Date(k.last_used_at).toISOString(),
});

/**
 * `publicUrl` is the server's public base URL, read at each ceremony (it may be known only once
 * the server listens): passkeys are bound to its origin and its host name (the RP ID).
 */
export function createPasskeys(deps: { db: Kysely<Database>; audit: AuditLog; sessions: Sessions; publicUrl: () => string; rpName?: string; now?: () => number }): Passkeys {
  const { db, audit, sessions } = deps;
  const origin = () => new URL(deps.publicUrl()).origin;
  const rpId = () => new URL(deps.publicUrl()).hostname;
  const rpName = deps.rpName ?? 'callvault';
  const now = deps.now ?? Date.now;

  function requireStepUp(p: UserPrincipal): void {
    if (!steppedUp(p, now())) throw new AccountError(403, STEP_UP_FIRST);
  }

  async function remember(challenge: string, purpose: Purpose, userId: string | null): Promise<void> {
    const t = now();
    // Expired ceremonies are swept here, so the public options route cannot grow the table for long.
    await db.deleteFrom('auth_challenges').where('purpose', 'in', PURPOSES).where('expires_at', '<=', t).execute();
    await db.insertInto('auth_challenges').values({ id_hash: sha256Hex(challenge), purpose, user_id: userId, data: '{}', expires_at: t + CHALLENGE_TTL_MS }).execute();
  }

  /** Spends the challenge a response answers; false when it is unknown, used, expired, or not this purpose's or person's. */
  async function consume(clientDataJSON: string, purpose: Purpose, userId: string | null): Promise<string | null> {
    const challenge = challengeOf(clientDataJSON);
    if (!challenge) return null;
    const q = db.deleteFrom('auth_challenges').where('id_hash', '=', sha256Hex(challenge)).where('purpose', '=', purpose).where('expires_at', '>', now());
    const r = await (userId === null ? q.where('user_id', 'is', null) : q.where('user_id', '=', userId)).executeTakeFirst();
    return Number(r.numDeletedRows) === 1 ? challenge : null;
  }

  /** Verifies an assertion against a stored key; the new counter, or why not. */
  async function check(key: Key, response: AuthenticationResponseJSON, challenge: string): Promise<{ ok: true; counter: number } | { ok: false; reason: string }> {
    try {
      const v = await verifyAuthenticationResponse({
        response, expectedChallenge: challenge, expectedOrigin: origin(), expectedRPID: rpId(), requireUserVerification: true,
        // Counter 0 here: the library would refuse a stale counter before checking the signature.
        credential: { id: key.id, publicKey: new Uint8Array(key.public_key), counter: 0, transports: parseJsonList(key.transports) },
      });
      if (!v.verified) return { ok: false, reason: 'signature' };
      const n = v.authenticationInfo.newCounter;
      if ((n > 0 || key.counter > 0) && n <= key.counter) return { ok: false, reason: 'counter did not increase (possible cloned authenticator)' };
      return { ok: true, counter: n };
    } catch (err) {
      return { ok: false, reason: why(err) };
    }
  }

  async function requestOptions(purpose: Purpose, p: UserPrincipal | null, allow: Key[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await generateAuthenticationOptions({
      rpID: rpId(), challenge: new Uint8Array(randomBytes(32)), timeout: CHALLENGE_TTL_MS, userVerification: 'required',
      allowCredentials: p ? allow.map((k) => ({ id: k.id, transports: parseJsonList(k.transports) })) : undefined,
    });
    await remember(options.challenge, purpose, p?.userId ?? null);
    return options;
  }

  const keysOf = (userId: string) => db.selectFrom('passkeys').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();

  return {
    async registrationOptions(p) {
      requireStepUp(p);
      // An SSO account's factors live at its identity provider; a passkey here would outlive
      // the provider's say (a person deprovisioned there could still sign in).
      if (p.authMethod === 'oidc') throw new AccountError(409, 'you sign in through single sign-on; your identity provider holds your factors');
      const mine = await keysOf(p.userId);
      if (mine.length >= MAX_PASSKEYS) throw new AccountError(409, `a person can have at most ${MAX_PASSKEYS} passkeys; remove one first`);
      const options = await generateRegistrationOptions({
        rpName, rpID: rpId(), userName: p.username, userDisplayName: p.username, userID: userHandleOf(p.userId),
        challenge: new Uint8Array(randomBytes(32)), timeout: CHALLENGE_TTL_MS, attestationType: 'none',
        excludeCredentials: mine.map((k) => ({ id: k.id, transports: parseJsonList(k.transports) })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' }, supportedAlgorithmIDs: ALGORITHMS,
      });
      await remember(options.challenge, 'passkey-register', p.userId);
      return options;
    },

    async verifyRegistration(p, response, name, { source, requestId }) {
      requireStepUp(p);
      if (p.authMethod === 'oidc') throw new AccountError(409, 'you sign in through single sign-on; your identity provider holds your factors');
      const refuse = async (reason: string, status: number, message: string): Promise<never> => {
        await audit.record({ action: 'auth.passkey_registered', actor: { type: 'user', id: p.userId }, outcome: 'denied', object: { type: 'user', id: p.userId }, source, requestId, details: { reason } });
        throw new AccountError(status, message);
      };
      const challenge = await consume(response.response.clientDataJSON, 'passkey-register', p.userId);
      if (!challenge) return refuse('challenge unknown, used or expired', 400, 'the registration challenge is unknown, used or expired; ask for new options');
      let verified;
      try {
        verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin(), expectedRPID: rpId(), requireUserPresence: true, requireUserVerification: true, supportedAlgorithmIDs: ALGORITHMS });
      } catch (err) {
        return refuse(why(err), 400, `the passkey was not accepted (${why(err)})`);
      }
      if (!verified.verified) return refuse('not verified', 400, 'the passkey was not accepted');
      const cred = verified.registrationInfo.credential;
      const t = now();
      const added = await db.transaction().execute(async (trx) => {
        // A credential id is unique across people: one already known is never re-bound to someone else.
        if (await trx.selectFrom('passkeys').select('id').where('id', '=', cred.id).executeTakeFirst()) return 'taken';
        const n = await trx.selectFrom('passkeys').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', p.userId).executeTakeFirstOrThrow();
        if (Number(n.n) >= MAX_PASSKEYS) return 'full';
        const row = { id: cred.id, user_id: p.userId, public_key: cred.publicKey, counter: cred.counter, transports: JSON.stringify(cred.transports ?? []), name, created_at: t, last_used_at: null };
        await trx.insertInto('passkeys').values(row).execute();
        await audit.record({ action: 'auth.passkey_registered', actor: { type: 'user', id: p.userId }, outcome: 'success', object: { type: 'user', id: p.userId }, source, requestId, details: { credential: shortId(cred.id) } }, trx);
        return row;
      });
      if (added === 'taken') return refuse('credential already registered', 409, 'this passkey is already registered');
      if (added === 'full') return refuse('too many passkeys', 409, `a person can have at most ${MAX_PASSKEYS} passkeys; remove one first`);
      return view(added);
    },

    authenticationOptions: () => requestOptions('passkey-login', null, []),

    async signInWithPasskey(response, { source, requestId }) {
      const refuse = async (reason: string, userId: string | null): Promise<never> => {
        await audit.record({ action: 'auth.login', actor: { type: userId ? 'user' : 'anonymous', id: userId }, outcome: 'denied', source, requestId, details: { method: 'passkey', reason } });
        throw new AccountError(401, SIGN_IN_REFUSED);
      };
      const challenge = await consume(response.response.clientDataJSON, 'passkey-login', null);
      if (!challenge) return refuse('challenge unknown, used or expired', null);
      const key = await db.selectFrom('passkeys').selectAll().where('id', '=', response.id).executeTakeFirst();
      const user = key && await db.selectFrom('users').select(['id', 'status', 'roles', 'oidc_subject']).where('id', '=', key.user_id).executeTakeFirst();
      if (!key || !user) return refuse('unknown credential', null);
      if (!handleMatches(response.response.userHandle, user.id)) return refuse('user handle does not match the credential', user.id);
      const checked = await check(key, response, challenge);
      if (!checked.ok) return refuse(checked.reason, user.id);
      if (user.status !== 'active') return refuse(`user ${user.status}`, user.id);
      if (user.oidc_subject !== null) return refuse('account signs in through single sign-on', user.id);
      const s = await db.transaction().execute(async (trx) => {
        // Compare-and-set: of two assertions racing with the same counter, one wins.
        const claimed = await trx.updateTable('passkeys').set({ counter: checked.counter, last_used_at: now() })
          .where('id', '=', key.id).where('counter', '=', key.counter).executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) return null;
        const opened = await sessions.create(trx, { userId: user.id, method: 'passkey' });
        await audit.record({ action: 'auth.login', actor: { type: 'user', id: user.id, role: parseJsonList(user.roles).join('+') }, outcome: 'success', object: { type: 'session', id: opened.sessionId }, source, requestId, details: { method: 'passkey', credential: shortId(key.id) } }, trx);
        return opened;
      });
      if (!s) return refuse('counter raced with another sign-in', user.id);
      return { sessionToken: s.sessionToken, csrfToken: s.csrfToken };
    },

    async stepUpOptions(p) {
      const mine = await keysOf(p.userId);
      if (mine.length === 0) throw new AccountError(409, 'you have no passkey; use your authenticator code instead');
      return requestOptions('passkey-step-up', p, mine);
    },

    async stepUpWithPasskey(p, response, { source, requestId }) {
      const refuse = async (reason: string): Promise<never> => {
        await audit.record({ action: 'auth.step_up', actor: { type: 'user', id: p.userId }, outcome: 'denied', source, requestId, details: { factor: 'passkey', reason } });
        throw new AccountError(401, STEP_UP_REFUSED);
      };
      const challenge = await consume(response.response.clientDataJSON, 'passkey-step-up', p.userId);
      if (!challenge) return refuse('challenge unknown, used or expired');
      const key = await db.selectFrom('passkeys').selectAll().where('id', '=', response.id).executeTakeFirst();
      if (!key) return refuse('unknown credential');
      if (key.user_id !== p.userId) return refuse("another person's credential");
      if (!handleMatches(response.response.userHandle, p.userId)) return refuse('user handle does not match the credential');
      const checked = await check(key, response, challenge);
      if (!checked.ok) return refuse(checked.reason);
      const done = await db.transaction().execute(async (trx) => {
        const claimed = await trx.updateTable('passkeys').set({ counter: checked.counter, last_used_at: now() })
          .where('id', '=', key.id).where('counter', '=', key.counter).executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) return false;
        await trx.updateTable('sessions').set({ step_up_at: now() }).where('id_hash', '=', p.sessionHash).execute();
        await audit.record({ action: 'auth.step_up', actor: { type: 'user', id: p.userId }, outcome: 'success', source, requestId, details: { factor: 'passkey', credential: shortId(key.id) } }, trx);
        return true;
      });
      if (!done) return refuse('counter raced with another assertion');
    },

    list: async (p) => (await keysOf(p.userId)).map(view),

    async remove(p, id, { source, requestId }) {
      requireStepUp(p);
      const gone = await db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', p.userId).executeTakeFirst();
        if (Number(r.numDeletedRows) !== 1) return false;
        await audit.record({ action: 'auth.passkey_removed', actor: { type: 'user', id: p.userId }, outcome: 'success', object: { type: 'user', id: p.userId }, source, requestId, details: { credential: shortId(id) } }, trx);
        return true;
      });
      // Someone else's passkey answers as an unknown one.
      if (!gone) throw new AccountError(404, 'no such passkey');
    },
  };
}
