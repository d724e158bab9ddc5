// Lockout after repeated failures, per account name and per source address. Kept in the
// catalog so a restart does not reset it and every node sees the same counts. Account names
// are counted as typed, whether or not such an account exists: a lockout is no oracle for
// which names are real.
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { sha256Hex } from '../lib/hash.ts';

export interface ThrottleRule {
  /** Failures within the window that lock the key. */
  failures: number;
  windowMs: number;
  lockMs: number;
}

export const ACCOUNT_RULE: ThrottleRule = { failures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };
export const ADDRESS_RULE: ThrottleRule = { failures: 30, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

export interface ThrottleKey {
  scope: 'account' | 'address';
  /** The name as typed, or the source address: only its hash is stored. */
  value: string;
}

const keyOf = (k: ThrottleKey) => sha256Hex(`${k.scope}:${k.scope === 'account' ? k.value.toLowerCase() : k.value}`);
const ruleOf = (k: ThrottleKey) => (k.scope === 'account' ? ACCOUNT_RULE : ADDRESS_RULE);

export interface Throttle {
  /** Milliseconds until the longest lock among `keys` ends; 0 when none is locked. */
  lockedFor(keys: ThrottleKey[]): Promise<number>;
  /** Counts a failure against each key; returns the scopes that became locked by it. */
  fail(keys: ThrottleKey[]): Promise<Array<ThrottleKey['scope']>>;
  /** Forgets the failures of a key (after a successful sign-in, or an administrator's unlock). */
  clear(key: ThrottleKey): Promise<void>;
}

export function createThrottle(db: Kysely<Database>, now: () => number = Date.now): Throttle {
  return {
    async lockedFor(keys) {
      if (keys.length === 0) return 0;
      const rows = await db.selectFrom('auth_throttle').select('locked_until').where('key', 'in', keys.map(keyOf)).execute();
      const t = now();
      return Math.max(0, ...rows.map((r) => (r.locked_until ?? 0) - t));
    },
    async fail(keys) {
      const locked: Array<ThrottleKey['scope']> = [];
      const t = now();
      await db.transaction().execute(async (trx) => {
        for (const k of keys) {
          const rule = ruleOf(k);
          const key = keyOf(k);
          const row = await trx.selectFrom('auth_throttle').selectAll().where('key', '=', key).executeTakeFirst();
          const fresh = !row || t - row.window_start >= rule.windowMs;
          const failures = fresh ? 1 : row.failures + 1;
          const lockNow = failures >= rule.failures && (row?.locked_until ?? 0) <= t;
          const values = { failures, window_start: fresh ? t : row.window_start, locked_until: lockNow ? t + rule.lockMs : (row?.locked_until ?? null) };
          if (row) await trx.updateTable('auth_throttle').set(values).where('key', '=', key).execute();
          else await trx.insertInto('auth_throttle').values({ key, ...values }).execute();
          if (lockNow) locked.push(k.scope);
        }
      });
      return locked;
    },
    async clear(k) {
      await db.deleteFrom('auth_throttle').where('key', '=', keyOf(k)).execute();
    },
  };
}
