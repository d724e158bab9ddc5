// The one place that decides who may do what. Default deny: a permission not granted here
// is refused, a route without a declared policy is not registered (http/routes.ts).

export const PERMISSIONS = [
  'recordings:list',
  'recordings:view',
  'recordings:play',
  'ingest:write',
  'session:self',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['administrator'] as const;
export type Role = (typeof ROLES)[number];

export const API_KEY_SCOPES = ['ingest'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

// The foundation has a single administrator who may list and play; full roles with
// care-unit scopes replace this table.
const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  administrator: ['recordings:list', 'recordings:view', 'recordings:play', 'session:self'],
};

// Ingest keys write; they cannot list, read or export anything.
const SCOPE_PERMISSIONS: Record<ApiKeyScope, readonly Permission[]> = {
  ingest: ['ingest:write'],
};

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string; username: string; role: Role; sessionHash: string; csrfToken: string }
  | { kind: 'api_key'; keyId: string; scope: ApiKeyScope };

/** How a route is reached: either public (liveness, sign-in) or behind a permission. */
export type RoutePolicy =
  | { public: true; why: string }
  | { permission: Permission };

export function can(p: Principal, permission: Permission): boolean {
  switch (p.kind) {
    case 'user':
      return (ROLE_PERMISSIONS[p.role] ?? []).includes(permission);
    case 'api_key':
      return (SCOPE_PERMISSIONS[p.scope] ?? []).includes(permission);
    default:
      return false;
  }
}

/** Of the given recordings, those the principal may act on with `permission`. */
export function permittedRecordings(p: Principal, permission: Permission, ids: readonly string[]): Set<string> {
  return can(p, permission) ? new Set(ids) : new Set();
}

export function actorOf(p: Principal): { type: 'user' | 'api_key' | 'anonymous'; id: string | null; role: string | null } {
  switch (p.kind) {
    case 'user':
      return { type: 'user', id: p.userId, role: p.role };
    case 'api_key':
      return { type: 'api_key', id: p.keyId, role: `key:${p.scope}` };
    default:
      return { type: 'anonymous', id: null, role: null };
  }
}
