// The one place that decides who may do what. Default deny: a permission not granted here is
// refused, a route without a declared policy is not registered (http/routes.ts), and a
// recording is reachable only through a role whose scope covers it or a live break-glass grant.
//
// Invariants:
// - Roles grant permissions; scopes narrow the recording permissions of each role separately
//   (a supervisor's care units do not widen an agent role the same person also holds).
// - Administrators and auditors get no audio permission at all; break-glass cannot give them one.
// - A break-glass grant opens listing, metadata and playback of one recording for a limited
//   time; never download, export or deletion.

export const PERMISSIONS = [
  'recordings:list',
  'recordings:view',
  'recordings:play',
  'recordings:download',
  'recordings:export',
  'recordings:delete',
  'recordings:legal_hold',
  'recordings:break_glass',
  'recordings:history',
  'audit:read',
  // A patient's log extract: every access to their calls, for the auditor and for the privacy
  // officer who answers the patient (without the rest of the log).
  'audit:extract',
  'audit:review',
  'users:manage',
  'keys:manage',
  'settings:manage',
  'ingest:write',
  'session:self',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Permissions that act on recordings and are therefore narrowed by scope. */
export type RecordingPermission = Extract<Permission, `recordings:${string}`>;

export const ROLES = ['administrator', 'supervisor', 'agent', 'auditor', 'privacy_officer'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  administrator: 'users, API keys and settings; no audio',
  supervisor: "recordings of their care units: list, view, play, download, export, each one's access history; reviews break-glass in those units",
  agent: 'their own calls: list, view, play',
  auditor: 'the audit log, log extracts and break-glass reviews; no audio',
  privacy_officer: "erasure, legal hold, data-subject export, access history over every unit, and patients' log extracts",
};

/** Which recordings a role's recording permissions reach. */
type RoleScope = 'care_units' | 'own_calls' | 'all' | 'none';

const ROLE_GRANTS: Record<Role, { permissions: readonly Permission[]; scope: RoleScope }> = {
  administrator: { permissions: ['users:manage', 'keys:manage', 'settings:manage', 'session:self'], scope: 'none' },
  supervisor: {
    permissions: ['recordings:list', 'recordings:view', 'recordings:play', 'recordings:download', 'recordings:export', 'recordings:break_glass', 'recordings:history', 'audit:review', 'session:self'],
    scope: 'care_units',
  },
  agent: { permissions: ['recordings:list', 'recordings:view', 'recordings:play', 'recordings:break_glass', 'session:self'], scope: 'own_calls' },
  auditor: { permissions: ['audit:read', 'audit:extract', 'audit:review', 'session:self'], scope: 'none' },
  privacy_officer: {
    permissions: ['recordings:list', 'recordings:view', 'recordings:export', 'recordings:delete', 'recordings:legal_hold', 'recordings:history', 'audit:extract', 'session:self'],
    scope: 'all',
  },
};

/** What a break-glass grant opens on its one recording: finding it again, its metadata, playback. */
const BREAK_GLASS_PERMISSIONS: readonly RecordingPermission[] = ['recordings:list', 'recordings:view', 'recordings:play'];

export const API_KEY_SCOPES = ['ingest'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

// Ingest keys write; they cannot list, read or export anything.
const KEY_PERMISSIONS: Record<ApiKeyScope, readonly Permission[]> = {
  ingest: ['ingest:write'],
};

export interface UserPrincipal {
  kind: 'user';
  userId: string;
  username: string;
  roles: Role[];
  careUnits: string[];
  agentId: string | null;
  sessionHash: string;
  csrfToken: string;
  /** When the second factor was last proven in this session (sign-in or step-up). */
  stepUpAt: number | null;
  authMethod: string;
}

export type Principal =
  | { kind: 'anonymous' }
  | UserPrincipal
  | { kind: 'api_key'; keyId: string; scope: ApiKeyScope };

/** How a route is reached: either public (liveness, sign-in) or behind a permission. */
export type RoutePolicy =
  | { public: true; why: string }
  | { permission: Permission };

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

export function can(p: Principal, permission: Permission): boolean {
  switch (p.kind) {
    case 'user':
      return p.roles.some((r) => ROLE_GRANTS[r]?.permissions.includes(permission));
    case 'api_key':
      return (KEY_PERMISSIONS[p.scope] ?? []).includes(permission);
    default:
      return false;
  }
}

/** The fields of a recording that decide who may reach it. */
export interface RecordingRef {
  id: string;
  care_unit: string;
  agent_id: string | null;
}

/** A set of recordings, as a catalog query can express it (see catalog/recordings.ts). */
export type RecordingScope =
  | { kind: 'all' }
  | { kind: 'some'; careUnits: string[]; agentId: string | null; grantsOf: string | null };

/**
 * Which recordings the principal may act on with `permission`, as a filter for queries.
 * `grantsOf` names the user whose live break-glass grants are added.
 */
export function recordingScope(p: Principal, permission: RecordingPermission): RecordingScope {
  if (p.kind !== 'user') return { kind: 'some', careUnits: [], agentId: null, grantsOf: null };
  const units = new Set<string>();
  let agentId: string | null = null;
  for (const role of p.roles) {
    const g = ROLE_GRANTS[role];
    if (!g?.permissions.includes(permission)) continue;
    if (g.scope === 'all') return { kind: 'all' };
    if (g.scope === 'care_units') {
      if (p.careUnits.includes('*')) return { kind: 'all' };
      for (const u of p.careUnits) units.add(u);
    }
    if (g.scope === 'own_calls' && p.agentId) agentId = p.agentId;
  }
  const viaGrant = BREAK_GLASS_PERMISSIONS.includes(permission) && p.roles.some((r) => ROLE_GRANTS[r]?.permissions.includes('recordings:break_glass'));
  return { kind: 'some', careUnits: [...units], agentId, grantsOf: viaGrant ? p.userId : null };
}

function inScope(scope: RecordingScope, r: RecordingRef, granted: ReadonlySet<string>): boolean {
  if (scope.kind === 'all') return true;
  return scope.careUnits.includes(r.care_unit)
    || (scope.agentId !== null && r.agent_id === scope.agentId)
    || (scope.grantsOf !== null && granted.has(r.id));
}

/**
 * Of the given recordings, those the principal may act on with `permission`. `granted` holds
 * the ids of recordings the principal has a live break-glass grant for.
 */
export function permittedRecordings(p: Principal, permission: RecordingPermission, recordings: readonly RecordingRef[], granted: ReadonlySet<string> = new Set()): Set<string> {
  if (!can(p, permission)) return new Set();
  const scope = recordingScope(p, permission);
  return new Set(recordings.filter((r) => inScope(scope, r, granted)).map((r) => r.id));
}

/** What can be done with one recording, by name, and the permission each needs. */
export const RECORDING_ACTIONS = {
  play: 'recordings:play',
  download: 'recordings:download',
  export: 'recordings:export',
  legal_hold: 'recordings:legal_hold',
  erase: 'recordings:delete',
  history: 'recordings:history',
} as const satisfies Record<string, RecordingPermission>;
export type RecordingAction = keyof typeof RECORDING_ACTIONS;

/**
 * The actions the principal may take on this one recording (for a client to offer only those):
 * each permission checked through permittedRecordings, so a break-glass grant yields playback
 * and never download, export or erasure.
 */
export function recordingActions(p: Principal, r: RecordingRef, granted: ReadonlySet<string> = new Set()): RecordingAction[] {
  return (Object.keys(RECORDING_ACTIONS) as RecordingAction[]).filter((a) => permittedRecordings(p, RECORDING_ACTIONS[a], [r], granted).has(r.id));
}

/**
 * Whether the principal may ask for break-glass access to this recording: they hold a role
 * that may break the glass, the recording is outside their regular scope, and no grant is live.
 */
export function mayBreakGlass(p: Principal, r: RecordingRef): boolean {
  if (p.kind !== 'user' || !can(p, 'recordings:break_glass')) return false;
  return !inScope(recordingScope(p, 'recordings:play'), r, new Set());
}

/**
 * Whether the principal may review a break-glass grant given to someone else on a recording of
 * `careUnit`: auditors everywhere, supervisors in their own units; never one's own.
 */
export function mayReviewBreakGlass(p: Principal, grant: { user_id: string; care_unit: string }): boolean {
  if (p.kind !== 'user' || grant.user_id === p.userId) return false;
  if (p.roles.includes('auditor')) return true;
  return p.roles.includes('supervisor') && (p.careUnits.includes('*') || p.careUnits.includes(grant.care_unit));
}

/** A filter on the break-glass review queue matching mayReviewBreakGlass. */
export function reviewScope(p: Principal): { kind: 'all' | 'none' } | { kind: 'units'; careUnits: string[] } {
  if (p.kind !== 'user') return { kind: 'none' };
  if (p.roles.includes('auditor')) return { kind: 'all' };
  if (!p.roles.includes('supervisor')) return { kind: 'none' };
  return p.careUnits.includes('*') ? { kind: 'all' } : { kind: 'units', careUnits: p.careUnits };
}

export function actorOf(p: Principal): { type: 'user' | 'api_key' | 'anonymous'; id: string | null; role: string | null } {
  switch (p.kind) {
    case 'user':
      return { type: 'user', id: p.userId, role: p.roles.join('+') || null };
    case 'api_key':
      return { type: 'api_key', id: p.keyId, role: `key:${p.scope}` };
    default:
      return { type: 'anonymous', id: null, role: null };
  }
}
