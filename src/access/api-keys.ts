// Machine credentials. A key reads `cvk_<id>_<secret>`: the id finds the row, the secret
// (256 random bits) is stored only as its SHA-256 (enough for a random secret; no password
// hashing needed). Shown once, at creation.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { BlockList } from 'node:net';
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import type { Database } from '../catalog/schema.ts';
import { API_KEY_SCOPES, type ApiKeyScope } from './policy.ts';
import { sha256Hex } from '../lib/hash.ts';
import { blockListOf as blockListOfRanges, CidrError, inRanges } from '../lib/net.ts';

const VERIFY_CACHE_MS = 1000;
const TOKEN = /^cvk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;


export const DEFAULT_KEY_RATE = 2000;

export interface VerifiedKey {
  keyId: string;
  scope: ApiKeyScope;
  /** Whether a source address may use this key (bound ranges, or anywhere). */
  allows(address: string): boolean;
  /** Requests a second this key may make. */
  ratePerS: number;
}

function blockListOf(cidrs: string[]): BlockList {
  try {
    return blockListOfRanges(cidrs);
  } catch (e) {
    throw e instanceof CidrError ? new ApiKeyInputError(e.message) : e;
  }
}

export interface ApiKeys {
  create(opts: { name: string; scope: string; actor: Actor; allow?: string[]; ratePerS?: number }): Promise<{ id: string; token: string }>;
  /** The key, or null for anything unknown, malformed or revoked. */
  verify(token: string): Promise<VerifiedKey | null>;
  revoke(id: string, actor: Actor): Promise<boolean>;
  /** Whether the key exists and is not revoked. */
  isActive(id: string): Promise<boolean>;
  list(): Promise<Array<{ id: string; name: string; scope: string; createdAt: number; revokedAt: number | null; lastUsedAt: number | null; allow: string[] | null; ratePerS: number }>>;
}

export class ApiKeyInputError extends Error {}

export function createApiKeys(db: Kysely<Database>, audit: AuditLog, now: () => number = Date.now): ApiKeys {
  async function verifyUncached(token: string): Promise<VerifiedKey | null> {
    const m = TOKEN.exec(token);
    if (!m) return null;
    const row = await db.selectFrom('api_keys').selectAll().where('id', '=', m[1]!).executeTakeFirst();
    const given = Buffer.from(sha256Hex(m[2]!), 'hex');
    const ok = row !== undefined && timingSafeEqual(given, Buffer.from(row.secret_hash, 'hex'));
    if (!ok || row.revoked_at !== null) return null;
    const list = row.allowed_cidrs ? blockListOf(JSON.parse(row.allowed_cidrs) as string[]) : null;
    return {
      keyId: row.id, scope: row.scope as ApiKeyScope, ratePerS: row.rate_per_s ?? DEFAULT_KEY_RATE,
      allows: (address) => list === null || inRanges(list, address),
    };
  }

  const verified = new Map<string, { key: VerifiedKey; at: number }>();
  const active = new Map<string, { active: boolean; at: number }>();

  return {
    async create({ name, scope, actor, allow, ratePerS }) {
      if (allow) blockListOf(allow); // validates every range
      if (ratePerS !== undefined && (!Number.isInteger(ratePerS) || ratePerS < 1 || ratePerS > 1_000_000)) {
        throw new ApiKeyInputError('a key rate is a whole number of requests a second, 1 to 1000000');
      }
      if (!(API_KEY_SCOPES as readonly string[]).includes(scope)) {
        throw new ApiKeyInputError(`unknown scope "${scope}"; known scopes: ${API_KEY_SCOPES.join(', ')}`);
      }
      if (!/^[\w .:-]{1,64}$/.test(name)) {
        throw new ApiKeyInputError('a key name is 1 to 64 letters, digits, spaces or . _ : -');
      }
      const id = randomBytes(8).toString('hex');
      const secret = randomBytes(32).toString('base64url');
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('api_keys').values({
          id, name, scope, secret_hash: sha256Hex(secret), created_at: now(), revoked_at: null, last_used_at: null,
          allowed_cidrs: allow ? JSON.stringify(allow.map((c) => c.trim())) : null, rate_per_s: ratePerS ?? null,
        }).execute();
        await audit.record({ action: 'apikey.created', actor, outcome: 'success', object: { type: 'api_key', id }, details: { scope, allow: allow ?? null, ratePerS: ratePerS ?? null } }, trx);
      });
      return { id, token: `cvk_${id}_${secret}` };
    },

    async verify(token) {
      // A verified key is remembered for a second: a live call's PATCHes do not each cost a
      // catalog query. Revoking through this process forgets at once; through another (the
      // CLI) takes effect within that second.
      const cached = verified.get(token);
      if (cached && now() - cached.at < VERIFY_CACHE_MS) return cached.key;
      const key = await verifyUncached(token);
      if (verified.size > 10_000) verified.clear();
      if (key) verified.set(token, { key, at: now() });
      return key;
    },

    async revoke(id, actor) {
      verified.clear();
      active.clear();
      return db.transaction().execute(async (trx) => {
        const res = await trx.updateTable('api_keys').set({ revoked_at: now() })
          .where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) return false;
        await audit.record({ action: 'apikey.revoked', actor, outcome: 'success', object: { type: 'api_key', id } }, trx);
        return true;
      });
    },

    async isActive(id) {
      // Asked about every second for each call in flight: answered from the same one-second
      // memory as verify(), which a revocation through this process clears.
      const cached = active.get(id);
      if (cached && now() - cached.at < VERIFY_CACHE_MS) return cached.active;
      const row = await db.selectFrom('api_keys').select('revoked_at').where('id', '=', id).executeTakeFirst();
      const result = row !== undefined && row.revoked_at === null;
      if (active.size > 10_000) active.clear();
      active.set(id, { active: result, at: now() });
      return result;
    },

    async list() {
      const rows = await db.selectFrom('api_keys').select(['id', 'name', 'scope', 'created_at', 'revoked_at', 'last_used_at', 'allowed_cidrs', 'rate_per_s'])
        .orderBy('created_at').execute();
      return rows.map((r) => ({
        id: r.id, name: r.name, scope: r.scope, createdAt: r.created_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at,
        allow: r.allowed_cidrs ? (JSON.parse(r.allowed_cidrs) as string[]) : null, ratePerS: r.rate_per_s ?? DEFAULT_KEY_RATE,
      }));
    },
  };
}
