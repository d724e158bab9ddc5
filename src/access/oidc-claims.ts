// From what an identity provider says about a person to what callvault lets them do. Pure
// functions, kept apart from the protocol so each rule can be read (and tested) on its own.
//
// Rules:
// - Only role values named in the configured map grant anything; every other value is ignored.
// - Care units come from the care-unit claim (Swedish IdPs send the HSA ids of the person's
//   assignments there). "*" (every unit) is never taken from a claim: a wildcard in an IdP
//   attribute is far more likely a mistake than an intent to open every unit's recordings.
// - A role whose scope is missing is dropped rather than failing the whole sign-in: a
//   supervisor without a care unit, an agent without an agent id.
import type { OidcConfig } from '../config/config.ts';
import type { Role } from './policy.ts';
import { AGENT_ID, CARE_UNIT } from '../catalog/names.ts';
import { USERNAME, type Assignment } from './users.ts';

const MAX_VALUES = 100;

/** A claim as a list of strings: a string is one value, an array keeps its strings, else none. */
export function claimValues(v: unknown): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '').slice(0, MAX_VALUES);
  return [];
}

export interface Mapped extends Assignment {
  /** Roles the map gave that were dropped for a missing scope, with why. */
  dropped: string[];
  /** The role-claim values that the map did not know (names only, for the audit trail). */
  unmapped: string[];
}

export function mapClaims(claims: Record<string, unknown>, cfg: Pick<OidcConfig, 'roleClaim' | 'roleMap' | 'unitClaim' | 'agentClaim'>): Mapped {
  const roles = new Set<Role>();
  const unmapped: string[] = [];
  for (const value of claimValues(claims[cfg.roleClaim])) {
    const role = Object.hasOwn(cfg.roleMap, value) ? cfg.roleMap[value] : undefined;
    if (role) roles.add(role);
    else unmapped.push(value.slice(0, 64));
  }
  const careUnits = [...new Set(claimValues(claims[cfg.unitClaim]).filter((u) => u !== '*' && CARE_UNIT.test(u)))];
  const agent = cfg.agentClaim ? claimValues(claims[cfg.agentClaim])[0] : undefined;
  const agentId = agent !== undefined && AGENT_ID.test(agent) ? agent : null;
  const dropped: string[] = [];
  if (roles.has('supervisor') && careUnits.length === 0) {
    roles.delete('supervisor');
    dropped.push('supervisor: no care unit in the claims');
  }
  if (roles.has('agent') && agentId === null) {
    roles.delete('agent');
    dropped.push('agent: no agent id in the claims');
  }
  return { roles: [...roles].sort(), careUnits: careUnits.sort(), agentId, dropped, unmapped: unmapped.slice(0, 10) };
}

/**
 * A username for a person's first sign-on, from the username claim: lowercased, reduced to
 * the characters local names may use. Uniqueness against existing accounts is the caller's.
 */
export function usernameBase(claim: unknown): string {
  const raw = claimValues(claim)[0] ?? '';
  let name = raw.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/-{2,}/g, '-').slice(0, 56).replace(/[._-]+$/, '');
  if (!USERNAME.test(name)) name = 'sso-user';
  return name;
}

/** Candidates for a new SSO user's name: the base, then base-2, base-3, ... (never a local account's). */
export function* usernameCandidates(base: string): Generator<string> {
  yield base;
  for (let i = 2; i < 1000; i++) yield `${base}-${i}`;
}

/**
 * A place inside callvault to land on after signing in: a path starting with exactly one "/"
 * (so never "//host" or "/\host", which browsers read as another site), without control
 * characters. Anything else lands on "/".
 */
export function safeReturnTo(v: unknown): string {
  if (typeof v !== 'string' || v.length > 512 || !/^\/(?![/\\])/.test(v) || /[\p{Cc}\\\s]/u.test(v)) return '/';
  const u = new URL(v, 'http://callvault.invalid');
  return u.origin === 'http://callvault.invalid' ? `${u.pathname}${u.search}${u.hash}` : '/';
}

/** Two assignments give the same access. */
export function sameAssignment(a: Assignment, b: Assignment): boolean {
  const key = (x: Assignment) => JSON.stringify([[...x.roles].sort(), [...x.careUnits].sort(), x.agentId]);
  return key(a) === key(b);
}
