// Server-side sessions of people. The cookie holds a random token; the catalog holds its hash,
// the person, how they signed in and when they last proved their second factor. A session ends
// after 15 minutes idle or 12 hours in all, and at once when its person is disabled or their
// roles or scopes change (users.ts deletes the sessions in the same transaction).
import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import type { Database } from '../catalog/schema.ts';
import { sha256Hex } from '../lib/hash.ts';
import { isRole, type UserPrincipal } from './policy.ts';

export const SESSION_IDLE_MS = 15 * 60_000;
export const SESSION_ABSOLUTE_MS = 12 * 3600_000;
/** How long a proven second factor counts for download, export and other sensitive steps. */
export const STEP_UP_MS = 5 * 60_000;

export type AuthMethod = 'password+totp' | 'password+recovery' | 'passkey' | 'oidc';

export const newToken = () => randomBytes(32).toString('base64url');
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

export function parseJsonList(text: string): string[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export type SessionLookup =
  | { ok: true; principal: UserPrincipal }
  | { ok: false; reason: 'malformed' | 'unknown' | 'expired' | 'idle' | 'user disabled' };

export interface Sessions {
  /**
   * Opens a session for a person who has just proven both factors; returns the cookie token.
   * `stepUp: false` when the proof may be old (a single sign-on answered from the provider's
   * own session): download and export then ask for a fresh one.
   */
  create(trx: Transaction<Database>, opts: { userId: string; method: AuthMethod; stepUp?: boolean }): Promise<{ sessionToken: string; csrfToken: string; sessionId: string }>;
  /** The session's principal, sliding its idle timeout; why not, when it is not live. */
  resolve(sessionToken: string): Promise<SessionLookup>;
  /** Records a fresh proof of the second factor in this session. */
  markStepUp(sessionHash: string): Promise<void>;
  end(sessionHash: string): Promise<void>;
  /** Ends every session of a person (disabled, roles changed, second factor reset). */
  endAllOf(userId: string, trx?: Transaction<Database>): Promise<number>;
}

export function createSessions(deps: { db: Kysely<Database>; audit: AuditLog; now?: () => number }): Sessions {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  return {
    async create(trx, { userId, method, stepUp = true }) {
      const sessionToken = newToken();
      const csrfToken = newToken();
      const t = now();
      const idHash = sha256Hex(sessionToken);
      await trx.insertInto('sessions').values({
        id_hash: idHash, user_id: userId, csrf_token: csrfToken, created_at: t, last_seen_at: t,
        expires_at: t + SESSION_ABSOLUTE_MS, auth_method: method, step_up_at: stepUp ? t : null,
      }).execute();
      return { sessionToken, csrfToken, sessionId: idHash.slice(0, 16) };
    },

    async resolve(sessionToken) {
      if (typeof sessionToken !== 'string' || !TOKEN.test(sessionToken)) return { ok: false, reason: 'malformed' };
      const idHash = sha256Hex(sessionToken);
      const row = await db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id')
        .select(['sessions.id_hash', 'sessions.csrf_token', 'sessions.last_seen_at', 'sessions.expires_at', 'sessions.auth_method', 'sessions.step_up_at',
          'users.id as user_id', 'users.username', 'users.roles', 'users.care_units', 'users.agent_id', 'users.status'])
        .where('sessions.id_hash', '=', idHash).executeTakeFirst();
      if (!row) return { ok: false, reason: 'unknown' };
      const t = now();
      const dead = row.status !== 'active' ? 'user disabled' : row.expires_at <= t ? 'expired' : row.last_seen_at + SESSION_IDLE_MS <= t ? 'idle' : null;
      if (dead) {
        await db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
        return { ok: false, reason: dead };
      }
      if (t - row.last_seen_at > 5_000) await db.updateTable('sessions').set({ last_seen_at: t }).where('id_hash', '=', idHash).execute();
      return {
        ok: true,
        principal: {
          kind: 'user', userId: row.user_id, username: row.username, roles: parseJsonList(row.roles).filter(isRole),
          careUnits: parseJsonList(row.care_units), agentId: row.agent_id, sessionHash: idHash, csrfToken: row.csrf_token,
          stepUpAt: row.step_up_at, authMethod: row.auth_method,
        },
      };
    },

    async markStepUp(sessionHash) {
      await db.updateTable('sessions').set({ step_up_at: now() }).where('id_hash', '=', sessionHash).execute();
    },

    async end(sessionHash) {
      await db.deleteFrom('sessions').where('id_hash', '=', sessionHash).execute();
    },

    async endAllOf(userId, trx) {
      const r = await (trx ?? db).deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

/** Whether the session proved its second factor recently enough for a sensitive step. */
export function steppedUp(p: UserPrincipal, now: number = Date.now()): boolean {
  return p.stepUpAt !== null && now - p.stepUpAt < STEP_UP_MS;
}
