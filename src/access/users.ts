// User management: invite (one-time enrollment link), assign roles and scopes, disable and
// enable, reset a second factor. Every step is audited in the transaction that makes it, and
// every change to what a person may do ends their sessions at once.
import type { Kysely, Transaction } from 'kysely';
import type { Actor } from '../audit/events.ts';
import type { AuditLog } from '../audit/log.ts';
import { newId } from '../catalog/ids.ts';
import { AGENT_ID, AGENT_ID_RULE, CARE_UNIT, CARE_UNIT_RULE } from '../catalog/names.ts';
import type { Database, User } from '../catalog/schema.ts';
import { AccountError, type Accounts } from './accounts.ts';
import { isRole, type Role } from './policy.ts';
import { parseJsonList, type Sessions } from './sessions.ts';

export const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;

export interface Assignment {
  roles: Role[];
  careUnits: string[];
  agentId: string | null;
}

export interface UserView extends Assignment {
  id: string;
  username: string;
  status: User['status'];
  signIn: 'local' | 'sso';
  passkeys: number;
  createdAt: string;
}

export function validateAssignment(a: Assignment): Assignment {
  const roles = [...new Set(a.roles)];
  if (roles.length === 0) throw new AccountError(400, 'give at least one role');
  for (const r of roles) if (!isRole(r)) throw new AccountError(400, `unknown role ${JSON.stringify(r)}`);
  const careUnits = [...new Set(a.careUnits)];
  for (const u of careUnits) if (u !== '*' && !CARE_UNIT.test(u)) throw new AccountError(400, `care unit ${JSON.stringify(u)} ${CARE_UNIT_RULE}, or * for every unit`);
  if (roles.includes('supervisor') && careUnits.length === 0) throw new AccountError(400, 'a supervisor needs at least one care unit (or * for all)');
  if (roles.includes('agent') && !a.agentId) throw new AccountError(400, 'an agent needs the agent id their calls carry');
  if (a.agentId !== null && !AGENT_ID.test(a.agentId)) throw new AccountError(400, `the agent id ${AGENT_ID_RULE}`);
  return { roles, careUnits, agentId: a.agentId };
}

export interface Users {
  list(): Promise<UserView[]>;
  get(id: string): Promise<UserView | undefined>;
  byUsername(username: string): Promise<UserView | undefined>;
  /** Creates an invited person and their first enrollment link. */
  invite(opts: { username: string; actor: Actor; requestId?: string } & Assignment): Promise<{ user: UserView; token: string; expiresAt: number }>;
  /** A new enrollment link for a person who has not enrolled yet (earlier links die). */
  reissue(id: string, actor: Actor, requestId?: string): Promise<{ token: string; expiresAt: number }>;
  assign(id: string, a: Assignment, actor: Actor, requestId?: string): Promise<UserView>;
  disable(id: string, actor: Actor, requestId?: string): Promise<UserView>;
  enable(id: string, actor: Actor, requestId?: string): Promise<UserView>;
  /** Drops password, TOTP, passkeys and recovery codes; the person enrolls again from a new link. */
  resetSecondFactor(id: string, actor: Actor, requestId?: string): Promise<{ token: string; expiresAt: number }>;
}

export function createUsers(deps: { db: Kysely<Database>; audit: AuditLog; accounts: Accounts; sessions: Sessions; now?: () => number }): Users {
  const { db, audit, accounts, sessions } = deps;
  const now = deps.now ?? Date.now;

  async function view(u: User, trx: Kysely<Database> = db): Promise<UserView> {
    const keys = await trx.selectFrom('passkeys').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', u.id).executeTakeFirstOrThrow();
    return {
      id: u.id, username: u.username, status: u.status, roles: parseJsonList(u.roles).filter(isRole), careUnits: parseJsonList(u.care_units),
      agentId: u.agent_id, signIn: u.oidc_subject ? 'sso' : 'local', passkeys: Number(keys.n), createdAt: new Date(u.created_at).toISOString(),
    };
  }

  async function load(trx: Transaction<Database>, id: string): Promise<User> {
    const u = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!u) throw new AccountError(404, 'no such user');
    return u;
  }

  /** Refuses a change that would leave nobody able to manage users. */
  async function keepAnAdministrator(trx: Transaction<Database>, changing: string): Promise<void> {
    const others = await trx.selectFrom('users').select('roles').where('status', '=', 'active').where('id', '!=', changing).execute();
    if (!others.some((o) => parseJsonList(o.roles).includes('administrator'))) {
      throw new AccountError(409, 'this would leave no active administrator; make someone else administrator first');
    }
  }

  const isAdmin = (u: User) => u.status === 'active' && parseJsonList(u.roles).includes('administrator');

  return {
    async list() {
      const rows = await db.selectFrom('users').selectAll().orderBy('username').execute();
      return Promise.all(rows.map((r) => view(r)));
    },
    async get(id) {
      const u = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return u ? view(u) : undefined;
    },
    async byUsername(username) {
      const u = await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
      return u ? view(u) : undefined;
    },

    async invite({ username, actor, requestId, ...assignment }) {
      if (!USERNAME.test(username)) throw new AccountError(400, 'a username is 2 to 64 lowercase letters, digits or . _ -');
      const a = validateAssignment(assignment);
      return db.transaction().execute(async (trx) => {
        const existing = await trx.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
        if (existing) throw new AccountError(409, `user ${username} already exists`);
        const user: User = {
          id: newId(), username, roles: JSON.stringify(a.roles), care_units: JSON.stringify(a.careUnits), agent_id: a.agentId, status: 'invited',
          password_hash: null, totp_sealed: null, totp_last_step: null, oidc_issuer: null, oidc_subject: null, created_at: now(), updated_at: now(),
        };
        await trx.insertInto('users').values(user).execute();
        await audit.record({ action: 'user.invited', actor, outcome: 'success', object: { type: 'user', id: user.id }, requestId, details: { roles: a.roles, careUnits: a.careUnits } }, trx);
        const link = await accounts.issueEnrollment(trx, user.id, actor);
        return { user: await view(user, trx), ...link };
      });
    },

    async reissue(id, actor) {
      return db.transaction().execute(async (trx) => {
        const u = await load(trx, id);
        if (u.status !== 'invited') throw new AccountError(409, `user ${u.username} has already enrolled; reset their second factor instead`);
        return accounts.issueEnrollment(trx, id, actor);
      });
    },

    async assign(id, assignment, actor, requestId) {
      // Nobody widens their own access: an administrator giving themselves an audio role would
      // make "administrators hear no audio" a matter of their good will.
      if (actor.type === 'user' && actor.id === id) throw new AccountError(403, 'you cannot change your own roles or scopes; ask another administrator');
      const a = validateAssignment(assignment);
      return db.transaction().execute(async (trx) => {
        const u = await load(trx, id);
        if (isAdmin(u) && !a.roles.includes('administrator')) await keepAnAdministrator(trx, id);
        await trx.updateTable('users').set({ roles: JSON.stringify(a.roles), care_units: JSON.stringify(a.careUnits), agent_id: a.agentId, updated_at: now() }).where('id', '=', id).execute();
        const ended = await sessions.endAllOf(id, trx);
        await audit.record({ action: 'user.updated', actor, outcome: 'success', object: { type: 'user', id }, requestId,
          details: { roles: a.roles, careUnits: a.careUnits, agentId: a.agentId !== null, before: { roles: parseJsonList(u.roles), careUnits: parseJsonList(u.care_units) }, sessionsEnded: ended } }, trx);
        return view(await load(trx, id), trx);
      });
    },

    async disable(id, actor, requestId) {
      return db.transaction().execute(async (trx) => {
        const u = await load(trx, id);
        // An operator at the console may, in an incident; through the API nobody locks everyone out.
        if (isAdmin(u) && actor.type !== 'operator') await keepAnAdministrator(trx, id);
        await trx.updateTable('users').set({ status: 'disabled', updated_at: now() }).where('id', '=', id).execute();
        await trx.updateTable('enrollments').set({ used_at: now() }).where('user_id', '=', id).where('used_at', 'is', null).execute();
        const ended = await sessions.endAllOf(id, trx);
        await audit.record({ action: 'user.disabled', actor, outcome: 'success', object: { type: 'user', id }, requestId, details: { before: u.status, sessionsEnded: ended } }, trx);
        return view(await load(trx, id), trx);
      });
    },

    async enable(id, actor, requestId) {
      return db.transaction().execute(async (trx) => {
        const u = await load(trx, id);
        if (u.status !== 'disabled') throw new AccountError(409, `user ${u.username} is not disabled`);
        // Back to where they were: active with their factors, or invited when they never enrolled.
        const status = u.password_hash !== null || u.oidc_subject !== null ? 'active' : 'invited';
        await trx.updateTable('users').set({ status, updated_at: now() }).where('id', '=', id).execute();
        await audit.record({ action: 'user.enabled', actor, outcome: 'success', object: { type: 'user', id }, requestId, details: { status } }, trx);
        return view(await load(trx, id), trx);
      });
    },

    async resetSecondFactor(id, actor, requestId) {
      return db.transaction().execute(async (trx) => {
        const u = await load(trx, id);
        if (u.oidc_subject) throw new AccountError(409, `user ${u.username} signs in through single sign-on; their identity provider holds their factors`);
        if (u.status === 'disabled') throw new AccountError(409, `user ${u.username} is disabled; enable them first`);
        if (isAdmin(u) && actor.type !== 'operator') await keepAnAdministrator(trx, id);
        await trx.updateTable('users').set({ status: 'invited', password_hash: null, totp_sealed: null, totp_last_step: null, updated_at: now() }).where('id', '=', id).execute();
        await trx.deleteFrom('passkeys').where('user_id', '=', id).execute();
        await trx.deleteFrom('recovery_codes').where('user_id', '=', id).execute();
        const ended = await sessions.endAllOf(id, trx);
        await audit.record({ action: 'user.factors_reset', actor, outcome: 'success', object: { type: 'user', id }, requestId, details: { sessionsEnded: ended } }, trx);
        return accounts.issueEnrollment(trx, id, actor);
      });
    },
  };
}
