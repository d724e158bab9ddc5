// callvault user invite|list|assign|disable|enable|reset|link: managing people from the console.
// The operator acts as themselves (their OS account is the audit actor).
import { parseArgs } from 'node:util';
import { userInfo } from 'node:os';
import { isRole, type Role } from '../access/policy.ts';
import type { Actor } from '../audit/events.ts';
import { loadConfig } from '../config/config.ts';
import { openArchive, type Archive } from './archive.ts';
import { out, UsageError } from './output.ts';
import { enrollUrl } from './server.ts';

const USAGE = 'usage: callvault user invite|list|assign|disable|enable|reset|link --data DIR [NAME] [--role ROLE ...] [--unit UNIT ...] [--agent ID]';

function parse(args: string[]) {
  try {
    return parseArgs({
      args, allowPositionals: true, strict: true,
      options: {
        data: { type: 'string' }, 'public-url': { type: 'string' }, listen: { type: 'string' }, 'database-url': { type: 'string' }, 'blob-url': { type: 'string' },
        role: { type: 'string', multiple: true }, unit: { type: 'string', multiple: true }, agent: { type: 'string' },
      },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export async function user(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest);
  const c = loadConfig({ ...(values.data ? { data: values.data } : {}), ...(values['public-url'] ? { 'public-url': values['public-url'] } : {}), ...(values.listen ? { listen: values.listen } : {}),
    ...(values['database-url'] ? { 'database-url': values['database-url'] } : {}), ...(values['blob-url'] ? { 'blob-url': values['blob-url'] } : {}) });
  const actor: Actor = { type: 'operator', id: userInfo().username, role: 'operator' };
  const roles = (values.role ?? []).map((r) => {
    if (!isRole(r)) throw new UsageError(`unknown role "${r}"; roles are administrator, supervisor, agent, auditor, privacy_officer`);
    return r as Role;
  });
  const assignment = { roles, careUnits: values.unit ?? [], agentId: values.agent ?? null };
  const a = await openArchive(c.dataDir, c);
  try {
    if (sub === 'list') {
      for (const u of await a.users.list()) {
        out(`${u.username.padEnd(20)} ${u.status.padEnd(8)} ${u.roles.join(',').padEnd(28)} units: ${u.careUnits.join(',') || '-'}  agent: ${u.agentId ?? '-'}  ${u.signIn}${u.passkeys ? `  passkeys: ${u.passkeys}` : ''}`);
      }
      return 0;
    }
    const name = positionals[0];
    if (!name || positionals.length > 1) throw new UsageError(USAGE);
    if (sub === 'invite') {
      const r = await a.users.invite({ username: name, ...assignment, actor });
      out(`Invited ${name} as ${r.user.roles.join(', ')}. One-time enrollment link (valid until ${new Date(r.expiresAt).toISOString()}):`);
      out(`  ${enrollUrl(c, r.token)}`);
      return 0;
    }
    const u = await found(a, name);
    switch (sub) {
      case 'assign': {
        const v = await a.users.assign(u.id, assignment, actor);
        out(`${name}: ${v.roles.join(', ')}; units ${v.careUnits.join(', ') || '-'}; agent ${v.agentId ?? '-'}. Their sessions have ended.`);
        return 0;
      }
      case 'disable':
        await a.users.disable(u.id, actor);
        out(`Disabled ${name}; their sessions have ended.`);
        return 0;
      case 'enable': {
        const v = await a.users.enable(u.id, actor);
        out(`Enabled ${name} (${v.status}).`);
        return 0;
      }
      case 'reset': {
        const l = await a.users.resetSecondFactor(u.id, actor);
        out(`Reset ${name}'s password and second factors. New enrollment link (valid until ${new Date(l.expiresAt).toISOString()}):`);
        out(`  ${enrollUrl(c, l.token)}`);
        return 0;
      }
      case 'link': {
        const l = await a.users.reissue(u.id, actor);
        out(`Enrollment link for ${name} (valid until ${new Date(l.expiresAt).toISOString()}):`);
        out(`  ${enrollUrl(c, l.token)}`);
        return 0;
      }
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    await a.close();
  }
}

async function found(a: Archive, name: string) {
  const u = await a.users.byUsername(name);
  if (!u) throw new UsageError(`no user ${name}`);
  return u;
}
