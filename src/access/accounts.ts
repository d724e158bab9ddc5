// People with local accounts: enrollment (one-time link -> password + TOTP, recovery codes),
// sign-in with two factors, step-up, recovery codes. No default password exists anywhere: the
// first administrator enrolls through a link printed by `callvault init`.
//
// No enumeration: an unknown name costs the same password hash and TOTP check as a known one,
// gets the same answer, and is throttled under the same rule as a known one.
import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import type { Database, User } from '../catalog/schema.ts';
import { sha256Hex } from '../lib/hash.ts';
import { decoyHash, hashPassword, passwordProblem, verifyPassword } from './passwords.ts';
import type { UserPrincipal } from './policy.ts';
import type { SecretBox } from './secret-box.ts';
import { newToken, parseJsonList, type AuthMethod, type Sessions } from './sessions.ts';
import type { Throttle, ThrottleKey } from './throttle.ts';
import { base32Encode, newTotpSecret, otpauthUri, verifyTotp } from './totp.ts';

export const ENROLLMENT_TTL_MS = 24 * 3600_000;
const TOTP_PURPOSE = 'callvault/totp/v1';
export const RECOVERY_CODE_COUNT = 10;

export class AccountError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

const WRONG = 'the username, password or second-factor code is not right';

/** Ten codes of 80 bits each, shown once, as xxxx-xxxx-xxxx-xxxx. */
function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => base32Encode(randomBytes(10)).toLowerCase().match(/.{4}/g)!.join('-'));
}
const normalizeRecoveryCode = (code: string) => code.toLowerCase().replace(/[^a-z2-7]/g, '');

export interface SecondFactor {
  totpCode?: string;
  recoveryCode?: string;
}

export interface Accounts {
  /** A fresh enrollment link for an invited person (earlier links die); in the caller's transaction. */
  issueEnrollment(trx: Transaction<Database>, userId: string, actor: Actor): Promise<{ token: string; expiresAt: number }>;
  /** Whether any person has completed enrollment. */
  hasActiveUser(): Promise<boolean>;
  startEnrollment(opts: { token: string; source: string | null; requestId: string }): Promise<{ username: string; totpSecret: string; otpauthUri: string }>;
  /** Sets password and TOTP; returns the recovery codes, shown this once. */
  completeEnrollment(opts: { token: string; password: string; totpCode: string; source: string | null; requestId: string }): Promise<{ recoveryCodes: string[] }>;
  signIn(opts: { username: string; password: string; source: string; requestId: string } & SecondFactor): Promise<{ sessionToken: string; csrfToken: string; user: User }>;
  /** Proves the second factor again within a session (before download or export). */
  stepUp(p: UserPrincipal, factor: SecondFactor, info: { source: string; requestId: string }): Promise<void>;
  /** Replaces a person's recovery codes; the old ones stop working. */
  regenerateRecoveryCodes(p: UserPrincipal, info: { source: string; requestId: string }): Promise<{ recoveryCodes: string[] }>;
}

export function createAccounts(deps: { db: Kysely<Database>; audit: AuditLog; box: SecretBox; sessions: Sessions; throttle: Throttle; now?: () => number }): Accounts {
  const { db, audit, box, sessions, throttle } = deps;
  const now = deps.now ?? Date.now;
  let decoyTotp: Buffer | undefined;

  async function liveEnrollment(tok: string) {
    if (typeof tok !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(tok)) return undefined;
    const row = await db.selectFrom('enrollments').selectAll().where('token_hash', '=', sha256Hex(tok)).executeTakeFirst();
    if (!row || row.used_at !== null || row.expires_at < now()) return undefined;
    return row;
  }

  async function storeRecoveryCodes(trx: Transaction<Database>, userId: string): Promise<string[]> {
    const codes = newRecoveryCodes();
    await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    await trx.insertInto('recovery_codes').values(codes.map((c) => ({ user_id: userId, code_hash: sha256Hex(normalizeRecoveryCode(c)), used_at: null }))).execute();
    return codes;
  }

  /**
   * Checks a second factor of `user` (or of nobody, at the same cost) and, when it holds,
   * consumes it in `trx`: the TOTP step can never be used again, a recovery code is spent.
   * Returns how the factor was proven, or null.
   */
  async function proveFactor(user: User | undefined, f: SecondFactor, trx: Transaction<Database>): Promise<'totp' | 'recovery' | null> {
    if (typeof f.recoveryCode === 'string' && f.recoveryCode.length > 0) {
      if (!user) return null;
      const spent = await trx.updateTable('recovery_codes').set({ used_at: now() })
        .where('user_id', '=', user.id).where('code_hash', '=', sha256Hex(normalizeRecoveryCode(f.recoveryCode))).where('used_at', 'is', null)
        .executeTakeFirst();
      return Number(spent.numUpdatedRows) === 1 ? 'recovery' : null;
    }
    decoyTotp ??= newTotpSecret();
    const secret = user?.totp_sealed ? box.open(user.totp_sealed, TOTP_PURPOSE) : decoyTotp;
    const step = verifyTotp(secret, f.totpCode, now(), user?.totp_last_step ?? null);
    if (!user?.totp_sealed || step === null) return null;
    const claimed = await trx.updateTable('users').set({ totp_last_step: step })
      .where('id', '=', user.id).where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)])).executeTakeFirst();
    return Number(claimed.numUpdatedRows) === 1 ? 'totp' : null;
  }

  async function auditRecoveryCodeUse(trx: Transaction<Database>, userId: string, info: { source: string; requestId: string }): Promise<void> {
    const left = await trx.selectFrom('recovery_codes').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirstOrThrow();
    await audit.record({ action: 'auth.recovery_code_used', actor: { type: 'user', id: userId }, outcome: 'success', ...info, details: { remaining: Number(left.n) } }, trx);
  }

  return {
    async issueEnrollment(trx, userId, actor) {
      const tok = newToken();
      const expiresAt = now() + ENROLLMENT_TTL_MS;
      await trx.updateTable('enrollments').set({ used_at: now() }).where('user_id', '=', userId).where('used_at', 'is', null).execute();
      await trx.insertInto('enrollments').values({ token_hash: sha256Hex(tok), user_id: userId, expires_at: expiresAt, used_at: null, pending_totp_sealed: null }).execute();
      await audit.record({ action: 'auth.enrollment_issued', actor, outcome: 'success', object: { type: 'user', id: userId } }, trx);
      return { token: tok, expiresAt };
    },

    async hasActiveUser() {
      const row = await db.selectFrom('users').select('id').where('status', '=', 'active').executeTakeFirst();
      return row !== undefined;
    },

    async startEnrollment({ token: tok, source, requestId }) {
      const row = await liveEnrollment(tok);
      if (!row) throw new AccountError(404, 'this enrollment link is unknown, used or expired; ask for a new one');
      const user = await db.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirstOrThrow();
      if (user.status !== 'invited') throw new AccountError(404, 'this enrollment link is unknown, used or expired; ask for a new one');
      const secret = newTotpSecret();
      // Handing out a second-factor secret is an authentication step: audited with the change.
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('enrollments').set({ pending_totp_sealed: box.seal(secret, TOTP_PURPOSE) })
          .where('token_hash', '=', row.token_hash).execute();
        await audit.record({ action: 'auth.enrollment_started', actor: { type: 'user', id: user.id }, outcome: 'success', object: { type: 'user', id: user.id }, source, requestId }, trx);
      });
      return { username: user.username, totpSecret: base32Encode(secret), otpauthUri: otpauthUri(secret, user.username) };
    },

    async completeEnrollment({ token: tok, password, totpCode, source, requestId }) {
      const row = await liveEnrollment(tok);
      if (!row) throw new AccountError(404, 'this enrollment link is unknown, used or expired; ask for a new one');
      if (!row.pending_totp_sealed) throw new AccountError(409, 'start the enrollment first to get the authenticator secret');
      const user = await db.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirstOrThrow();
      if (user.status !== 'invited') throw new AccountError(404, 'this enrollment link is unknown, used or expired; ask for a new one');
      const problem = passwordProblem(password, user.username);
      if (problem) throw new AccountError(400, problem);
      const secret = box.open(row.pending_totp_sealed, TOTP_PURPOSE);
      const step = verifyTotp(secret, totpCode, now(), null);
      if (step === null) throw new AccountError(400, 'the authenticator code is not valid; check the time on your device and try again');
      const hash = await hashPassword(password);
      return db.transaction().execute(async (trx) => {
        const used = await trx.updateTable('enrollments').set({ used_at: now(), pending_totp_sealed: null })
          .where('token_hash', '=', row.token_hash).where('used_at', 'is', null).executeTakeFirst();
        if (Number(used.numUpdatedRows) !== 1) throw new AccountError(404, 'this enrollment link was just used');
        const activated = await trx.updateTable('users').set({ password_hash: hash, totp_sealed: box.seal(secret, TOTP_PURPOSE), totp_last_step: step, status: 'active', updated_at: now() })
          .where('id', '=', row.user_id).where('status', '=', 'invited').executeTakeFirst();
        if (Number(activated.numUpdatedRows) !== 1) throw new AccountError(404, 'this enrollment link is unknown, used or expired; ask for a new one');
        const recoveryCodes = await storeRecoveryCodes(trx, row.user_id);
        await audit.record({ action: 'auth.enrolled', actor: { type: 'user', id: row.user_id }, outcome: 'success', object: { type: 'user', id: row.user_id }, source, requestId }, trx);
        return { recoveryCodes };
      });
    },

    async signIn({ username, password, totpCode, recoveryCode, source, requestId }) {
      const name = typeof username === 'string' ? username : '';
      const keys: ThrottleKey[] = [{ scope: 'account', value: name }, { scope: 'address', value: source }];
      const lockedMs = await throttle.begin(keys);
      if (lockedMs > 0) {
        await audit.record({ action: 'auth.login', actor: { type: 'anonymous', id: null }, outcome: 'denied', source, requestId, details: { reason: 'locked' } });
        const minutes = Math.ceil(lockedMs / 60_000);
        throw new AccountError(429, `too many failed attempts; try again in ${minutes} minute${minutes === 1 ? '' : 's'}`, { 'retry-after': String(Math.ceil(lockedMs / 1000)) });
      }
      const user = await db.selectFrom('users').selectAll().where('username', '=', name).executeTakeFirst();
      // Same work whether or not the user exists: no enumeration by answer or by time.
      const passwordOk = await verifyPassword(typeof password === 'string' ? password : '', user?.password_hash ?? (await decoyHash()));
      const method: AuthMethod | null = await db.transaction().execute(async (trx) => {
        const factor = await proveFactor(passwordOk && user?.status === 'active' ? user : undefined, { totpCode, recoveryCode }, trx);
        return factor === 'totp' ? 'password+totp' : factor === 'recovery' ? 'password+recovery' : null;
      });
      if (!user || user.status !== 'active' || !passwordOk || method === null) {
        const reason = !user ? 'unknown user' : user.status !== 'active' ? `user ${user.status}` : !passwordOk ? 'password' : 'second factor';
        const locked = await throttle.failed(keys);
        await db.transaction().execute(async (trx) => {
          await audit.record({ action: 'auth.login', actor: { type: user ? 'user' : 'anonymous', id: user?.id ?? null }, outcome: 'denied', source, requestId, details: { reason } }, trx);
          for (const scope of locked) {
            await audit.record({ action: 'auth.locked', actor: { type: user ? 'user' : 'anonymous', id: user?.id ?? null }, outcome: 'denied', source, requestId, details: { scope } }, trx);
          }
        });
        throw new AccountError(401, WRONG);
      }
      await throttle.succeeded(keys);
      return db.transaction().execute(async (trx) => {
        const s = await sessions.create(trx, { userId: user.id, method });
        await audit.record({ action: 'auth.login', actor: { type: 'user', id: user.id, role: parseJsonList(user.roles).join('+') }, outcome: 'success', object: { type: 'session', id: s.sessionId }, source, requestId, details: { method } }, trx);
        if (method === 'password+recovery') await auditRecoveryCodeUse(trx, user.id, { source, requestId });
        return { sessionToken: s.sessionToken, csrfToken: s.csrfToken, user };
      });
    },

    async stepUp(p, factor, { source, requestId }) {
      const keys: ThrottleKey[] = [{ scope: 'account', value: p.username }, { scope: 'address', value: source }];
      const actor = { type: 'user' as const, id: p.userId };
      if (await throttle.begin(keys) > 0) {
        await audit.record({ action: 'auth.step_up', actor, outcome: 'denied', source, requestId, details: { factor: 'none', reason: 'locked' } });
        throw new AccountError(429, 'too many failed attempts; try again later');
      }
      const user = await db.selectFrom('users').selectAll().where('id', '=', p.userId).executeTakeFirst();
      const proven = await db.transaction().execute(async (trx) => {
        const how = await proveFactor(user, factor, trx);
        await audit.record({ action: 'auth.step_up', actor, outcome: how ? 'success' : 'denied', source, requestId, details: { factor: how ?? 'none' } }, trx);
        if (how) await trx.updateTable('sessions').set({ step_up_at: now() }).where('id_hash', '=', p.sessionHash).execute();
        if (how === 'recovery') await auditRecoveryCodeUse(trx, p.userId, { source, requestId });
        return how;
      });
      if (!proven) {
        for (const scope of await throttle.failed(keys)) {
          await audit.record({ action: 'auth.locked', actor, outcome: 'denied', source, requestId, details: { scope, during: 'step-up' } });
        }
        throw new AccountError(401, 'the second-factor code is not right');
      }
      await throttle.succeeded(keys);
    },

    async regenerateRecoveryCodes(p, { source, requestId }) {
      if (p.authMethod === 'oidc') throw new AccountError(409, 'you sign in through single sign-on; your identity provider holds your factors');
      return db.transaction().execute(async (trx) => {
        const recoveryCodes = await storeRecoveryCodes(trx, p.userId);
        await audit.record({ action: 'auth.recovery_codes_issued', actor: { type: 'user', id: p.userId }, outcome: 'success', object: { type: 'user', id: p.userId }, source, requestId }, trx);
        return { recoveryCodes };
      });
    },
  };
}
