// Machine credentials. A key reads `cvk_<id>_<secret>`: the id finds the row, the secret
// (256 random bits) is stored only as its SHA-256 (enough for a random secret; no password
// hashing needed). Shown once, at creation.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import type { Database } from '../catalog/schema.ts';
import { API_KEY_SCOPES, type ApiKeyScope } from './policy.ts';

const TOKEN = /^cvk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface ApiKeys {
  create(opts: { name: string; scope: string; actor: Actor }): Promise<{ id: string; token: string }>;
  /** The key's id and scope, or null for anything unknown, malformed or revoked. */
  verify(token: string): Promise<{ keyId: string; scope: ApiKeyScope } | null>;
  revoke(id: string, actor: Actor): Promise<boolean>;
  list(): Promise<Array<{ id: string; name: string; scope: string; createdAt: number; revokedAt: number | null; lastUsedAt: number | null }>>;
}

export class ApiKeyInputError extends Error {}

export function createApiKeys(db: Kysely<Database>, audit: AuditLog, now: () => number = Date.now): ApiKeys {
  return {
    async create({ name, scope, actor }) {
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
          id, name, scope, secret_hash: sha256(secret), created_at: now(), revoked_at: null, last_used_at: null,
        }).execute();
        await audit.record({ action: 'apikey.created', actor, outcome: 'success', object: { type: 'api_key', id }, details: { scope } }, trx);
      });
      return { id, token: `cvk_${id}_${secret}` };
    },

    async verify(token) {
      const m = TOKEN.exec(token);
      if (!m) return null;
      const row = await db.selectFrom('api_keys').selectAll().where('id', '=', m[1]!).executeTakeFirst();
      const given = Buffer.from(sha256(m[2]!), 'hex');
      const ok = row !== undefined && timingSafeEqual(given, Buffer.from(row.secret_hash, 'hex'));
      if (!ok || row.revoked_at !== null) return null;
      return { keyId: row.id, scope: row.scope as ApiKeyScope };
    },

    async revoke(id, actor) {
      return db.transaction().execute(async (trx) => {
        const res = await trx.updateTable('api_keys').set({ revoked_at: now() })
          .where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
        if (Number(res.numUpdatedRows) === 0) return false;
        await audit.record({ action: 'apikey.revoked', actor, outcome: 'success', object: { type: 'api_key', id } }, trx);
        return true;
      });
    },

    async list() {
      const rows = await db.selectFrom('api_keys').select(['id', 'name', 'scope', 'created_at', 'revoked_at', 'last_used_at'])
        .orderBy('created_at').execute();
      return rows.map((r) => ({ id: r.id, name: r.name, scope: r.scope, createdAt: r.created_at, revokedAt: r.revoked_at, lastUsedAt: r.last_used_at }));
    },
  };
}
