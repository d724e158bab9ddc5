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
  /**
   * Counts an attempt against each key before its credentials are checked, so that attempts
   * racing each other cannot all pass a check made before any of them failed. Returns the
   * milliseconds to wait when a key is locked or already over its limit (the attempt is then
   * refused unchecked), else 0.
   */
  begin(keys: ThrottleKey[]): Promise<number>;
  /** The attempt failed: the keys that reached their limit lock now; returns their scopes. */
  failed(keys: ThrottleKey[]): Promise<Array<ThrottleKey['scope']>>;
  /** The attempt succeeded: the account's count is cleared, the address's attempt forgiven. */
  succeeded(keys: ThrottleKey[]): Promise<void>;
}

export function createThrottle(db: Kysely<Database>, now: () => number = Date.now): Throttle {
  return {
    async begin(keys) {
      const t = now();
      let wait = 0;
      await db.transaction().execute(async (trx) => {
        for (const k of keys) {
          const rule = ruleOf(k);
          const key = keyOf(k);
          const row = await trx.selectFrom('auth_throttle').selectAll().where('key', '=', key).executeTakeFirst();
          if (row?.locked_until && row.locked_until > t) {
            wait = Math.max(wait, row.locked_until - t);
            continue;
          }
          const fresh = !row || t - row.window_start >= rule.windowMs;
          const failures = fresh ? 1 : row.failures + 1;
          if (failures > rule.failures) wait = Math.max(wait, row!.window_start + rule.windowMs - t);
          const values = { failures, window_start: fresh ? t : row.window_start, locked_until: null };
          if (row) await trx.updateTable('auth_throttle').set(values).where('key', '=', key).execute();
          else await trx.insertInto('auth_throttle').values({ key, ...values }).execute();
        }
      });
      return wait;
    },
    async failed(keys) {
      const locked: Array<ThrottleKey['scope']> = [];
      const t = now();
      await db.transaction().execute(async (trx) => {
        for (const k of keys) {
          const rule = ruleOf(k);
          const done = await trx.updateTable('auth_throttle').set({ locked_until: t + rule.lockMs })
            .where('key', '=', keyOf(k)).where('failures', '>=', rule.failures)
            .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', t)])).executeTakeFirst();
          if (Number(done.numUpdatedRows) === 1) locked.push(k.scope);
        }
      });
      return locked;
    },
    async succeeded(keys) {
      await db.transaction().execute(async (trx) => {
        for (const k of keys) {
          if (k.scope === 'account') await trx.deleteFrom('auth_throttle').where('key', '=', keyOf(k)).execute();
          else await trx.updateTable('auth_throttle').set((eb) => ({ failures: eb('failures', '-', 1) })).where('key', '=', keyOf(k)).where('failures', '>', 0).execute();
        }
      });
    },
  };
}
