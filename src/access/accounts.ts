// People: enrollment (one-time link -> password + TOTP), sign-in, server-side sessions.
// No default password exists anywhere: the first administrator enrolls through a link
// printed by `callvault init` (or `callvault enroll-link`).
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import type { Database, User } from '../catalog/schema.ts';
import { newId } from '../catalog/ids.ts';
import { decoyHash, hashPassword, passwordProblem, verifyPassword } from './passwords.ts';
import type { Principal, Role } from './policy.ts';
import type { SecretBox } from './secret-box.ts';
import { newTotpSecret, otpauthUri, base32Encode, verifyTotp } from './totp.ts';
import { sha256Hex } from '../lib/hash.ts';

export const ENROLLMENT_TTL_MS = 24 * 3600_000;
export const SESSION_IDLE_MS = 15 * 60_000;
export const SESSION_ABSOLUTE_MS = 12 * 3600_000;
const TOTP_PURPOSE = 'callvault/totp/v1';

export class AccountError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const token = () => randomBytes(32).toString('base64url');

export interface Accounts {
  /** Creates the user if needed and issues a fresh enrollment token (earlier ones die). */
  issueEnrollment(opts: { username: string; role: Role; actor: Actor }): Promise<{ token: string; expiresAt: number }>;
  /** Whether any person has completed enrollment. */
  hasActiveUser(): Promise<boolean>;
  startEnrollment(opts: { token: string; source: string | null; requestId: string }): Promise<{ username: string; totpSecret: string; otpauthUri: string }>;
  completeEnrollment(opts: { token: string; password: string; totpCode: string; source: string | null; requestId: string }): Promise<void>;
  signIn(opts: { username: string; password: string; totpCode: string; source: string | null; requestId: string }): Promise<{ sessionToken: string; csrfToken: string; user: User }>;
  /** The session's principal, sliding its idle timeout; null when unknown or expired. */
  resolveSession(sessionToken: string): Promise<Principal | null>;
  signOut(sessionHash: string): Promise<void>;
}

export function createAccounts(deps: { db: Kysely<Database>; audit: AuditLog; box: SecretBox; now?: () => number }): Accounts {
  const { db, audit, box } = deps;
  const now = deps.now ?? Date.now;

  async function liveEnrollment(tok: string) {
    if (typeof tok !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(tok)) return undefined;
    const row = await db.selectFrom('enrollments').selectAll().where('token_hash', '=', sha256Hex(tok)).executeTakeFirst();
    if (!row || row.used_at !== null || row.expires_at < now()) return undefined;
    return row;
  }

  return {
    async issueEnrollment({ username, role, actor }) {
      if (!/^[a-z0-9][a-z0-9._-]{1,63}$/.test(username)) {
        throw new AccountError(400, 'a username is 2 to 64 lowercase letters, digits or . _ -');
      }
      const tok = token();
      const expiresAt = now() + ENROLLMENT_TTL_MS;
      await db.transaction().execute(async (trx) => {
        let user = await trx.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
        if (user && user.status !== 'invited') throw new AccountError(409, `user ${username} has already enrolled`);
        if (!user) {
          user = { id: newId(), username, role, status: 'invited', password_hash: null, totp_sealed: null, totp_last_step: null, created_at: now() };
          await trx.insertInto('users').values(user).execute();
        }
        await trx.updateTable('enrollments').set({ used_at: now() }).where('user_id', '=', user.id).where('used_at', 'is', null).execute();
        await trx.insertInto('enrollments').values({ token_hash: sha256Hex(tok), user_id: user.id, expires_at: expiresAt, used_at: null, pending_totp_sealed: null }).execute();
        await audit.record({ action: 'auth.enrollment_issued', actor, outcome: 'success', object: { type: 'user', id: user.id } }, trx);
      });
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
      const problem = passwordProblem(password);
      if (problem) throw new AccountError(400, problem);
      const secret = box.open(row.pending_totp_sealed, TOTP_PURPOSE);
      const step = verifyTotp(secret, totpCode, now(), null);
      if (step === null) throw new AccountError(400, 'the authenticator code is not valid; check the time on your device and try again');
      const hash = await hashPassword(password);
      await db.transaction().execute(async (trx) => {
        const used = await trx.updateTable('enrollments').set({ used_at: now(), pending_totp_sealed: null })
          .where('token_hash', '=', row.token_hash).where('used_at', 'is', null).executeTakeFirst();
        if (Number(used.numUpdatedRows) !== 1) throw new AccountError(404, 'this enrollment link was just used');
        await trx.updateTable('users').set({ password_hash: hash, totp_sealed: box.seal(secret, TOTP_PURPOSE), totp_last_step: step, status: 'active' })
          .where('id', '=', row.user_id).execute();
        await audit.record({ action: 'auth.enrolled', actor: { type: 'user', id: row.user_id }, outcome: 'success', object: { type: 'user', id: row.user_id }, source, requestId }, trx);
      });
    },

    async signIn({ username, password, totpCode, source, requestId }) {
      const user = typeof username === 'string'
        ? await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst()
        : undefined;
      // Same work whether or not the user exists: no enumeration by answer or by time.
      const passwordOk = await verifyPassword(typeof password === 'string' ? password : '', user?.password_hash ?? (await decoyHash()));
      let step: number | null = null;
      if (user?.totp_sealed) step = verifyTotp(box.open(user.totp_sealed, TOTP_PURPOSE), totpCode, now(), user.totp_last_step);
      const ok = user !== undefined && user.status === 'active' && passwordOk && step !== null;
      if (!ok) {
        await audit.record({ action: 'auth.login', actor: { type: user ? 'user' : 'anonymous', id: user?.id ?? null }, outcome: 'denied', source, requestId,
          details: { reason: !user ? 'unknown user' : user.status !== 'active' ? `user ${user.status}` : !passwordOk ? 'password' : 'second factor' } });
        throw new AccountError(401, 'the username, password or authenticator code is not right');
      }
      const sessionToken = token();
      const csrfToken = token();
      const t = now();
      await db.transaction().execute(async (trx) => {
        const claimed = await trx.updateTable('users').set({ totp_last_step: step })
          .where('id', '=', user.id).where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step!)])).executeTakeFirst();
        if (Number(claimed.numUpdatedRows) !== 1) throw new AccountError(401, 'the username, password or authenticator code is not right');
        await trx.insertInto('sessions').values({ id_hash: sha256Hex(sessionToken), user_id: user.id, csrf_token: csrfToken, created_at: t, last_seen_at: t, expires_at: t + SESSION_ABSOLUTE_MS }).execute();
        await audit.record({ action: 'auth.login', actor: { type: 'user', id: user.id, role: user.role }, outcome: 'success', object: { type: 'session', id: sha256Hex(sessionToken).slice(0, 16) }, source, requestId }, trx);
      });
      return { sessionToken, csrfToken, user };
    },

    async resolveSession(sessionToken) {
      if (typeof sessionToken !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(sessionToken)) return null;
      const idHash = sha256Hex(sessionToken);
      const row = await db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id')
        .select(['sessions.id_hash', 'sessions.csrf_token', 'sessions.last_seen_at', 'sessions.expires_at', 'users.id as user_id', 'users.username', 'users.role', 'users.status'])
        .where('sessions.id_hash', '=', idHash).executeTakeFirst();
      const t = now();
      if (!row || row.status !== 'active' || row.expires_at <= t || row.last_seen_at + SESSION_IDLE_MS <= t) {
        if (row) await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
        return null;
      }
      if (t - row.last_seen_at > 5_000) await db.updateTable('sessions').set({ last_seen_at: t }).where('id_hash', '=', idHash).execute();
      return { kind: 'user', userId: row.user_id, username: row.username, role: row.role as Role, sessionHash: idHash, csrfToken: row.csrf_token };
    },

    async signOut(sessionHash) {
      await db.deleteFrom('sessions').where('id_hash', '=', sessionHash).execute();
    },
  };
}
