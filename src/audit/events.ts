// The closed set of audit events. Adding an action means adding it here, with its meaning.
export const AUDIT_ACTIONS = {
  'auth.enrolled': 'a person set their password and second factor from an enrollment link',
  'auth.enrollment_issued': 'an enrollment link was issued',
  'auth.enrollment_started': 'an enrollment link was opened and a second-factor secret handed out',
  'auth.login': 'a sign-in attempt (success or denied)',
  'auth.logout': 'a session was ended by its owner',
  'auth.bad_request': 'a malformed request to a sign-in, enrollment, passkey or single sign-on route was refused',
  'auth.locked': 'repeated failures locked an account name or a source address for a while',
  'auth.throttled': 'requests from one source address to a sign-in, enrollment, passkey or single sign-on route went over the rate limit and were refused (route and count in details; at most one event per address and route a minute)',
  'auth.session_rejected': 'a request carried a session cookie that is malformed, unknown, expired or of a disabled person',
  'auth.step_up': 'a person proved their second factor again within a session (success or denied)',
  'auth.recovery_code_used': 'a one-time recovery code stood in for the second factor',
  'auth.recovery_codes_issued': "a person's recovery codes were replaced",
  'auth.passkey_registered': 'a person added a passkey',
  'auth.passkey_removed': 'a person removed a passkey',
  'auth.sso_denied': 'a single sign-on response was refused (state, issuer, nonce, audience, unknown or disabled person)',
  'user.invited': 'a person was invited with roles and care units',
  'user.provisioned': 'a person was created at their first single sign-on, with the roles and care units their identity provider gave',
  'user.updated': "a person's roles, care units or agent id changed (their sessions end)",
  'user.disabled': 'a person was disabled (their sessions end)',
  'user.enabled': 'a disabled person was enabled again',
  'user.factors_reset': "a person's password and second factors were reset; they enroll again",
  'access.denied': 'a request was refused by the access policy, for a missing CSRF token or second-factor step-up, or for want of credentials on a recording route (route and reason in details; anonymous ones at most once per address and route a minute, with a count)',
  'access.break_glass': 'a person opened a recording outside their scope, stating a reason (emergency access)',
  'access.break_glass_reviewed': 'a break-glass access was reviewed and closed',
  'apikey.created': 'an API key was created',
  'apikey.revoked': 'an API key was revoked',
  'apikey.denied': 'a request carried an unknown, malformed or revoked API key',
  'recordings.listed': 'recordings were listed (filters and result count in details)',
  'recording.viewed': "a recording's metadata or waveform was shown (details.breakGlass names the grant when it was emergency access)",
  'recording.played': 'audio bytes of a recording were sent (byte range in details; breakGlass names the grant when it was emergency access)',
  'recording.exported': 'a recording was exported as an age file',
  'recording.downloaded': 'a recording was downloaded as a file',
  'recording.legal_hold': 'a legal hold was put on or released from a recording',
  'recording.erased': 'a recording was erased: its key, numbers and payload destroyed (basis in details)',
  'recording.denied': 'access to a recording route was refused',
  'audit.searched': 'audit events were read (filters and result count in details)',
  'audit.verified': 'the audit log was verified on request (result in details)',
  'audit.extract_produced': "a patient's log extract was produced (PDL 8 kap. 5 §)",
  'archive.migrated': "an operator moved the archive to another catalog or blob store, every row and object verified (from, to and counts in details; written in the archive's new catalog)",
  'retention.run': 'a retention run ended: the periods it applied, how many recordings it erased per care unit, how many a legal hold kept (in details); each erasure has its own event',
  'archive.old_copy_removed': 'an operator removed the old copy a move left in the data directory (its embedded catalog, its local blob store), after checking that the archive holds everything it held (what was removed in details)',
  'catalog.seeded': 'an operator filled the catalog with synthetic calls (metadata only) for a benchmark or demo',
  'ingest.started': 'an upload was created',
  'ingest.completed': 'an upload was sealed and filed as a recording',
  'ingest.rejected': 'an upload was refused or abandoned; nothing was filed',
  'ingest.terminated': 'the client ended an upload (tus termination); nothing was filed',
  'ingest.expired': 'an idle live upload was filed as it stood, flagged abandoned',
  'ingest.recovered': 'after a crash, an upload in flight was filed up to its last durable byte, flagged',
  'ingest.resumed': 'a client came back to a recording filed after a crash: it was reopened to continue',
} as const;

export type AuditAction = keyof typeof AUDIT_ACTIONS;

export type ActorType = 'user' | 'api_key' | 'operator' | 'anonymous' | 'system';

export interface Actor {
  type: ActorType;
  id: string | null;
  role?: string | null;
}

export interface AuditEvent {
  action: AuditAction;
  actor: Actor;
  outcome: 'success' | 'denied' | 'failure';
  object?: { type: 'recording' | 'upload' | 'user' | 'api_key' | 'session' | 'break_glass'; id: string };
  careUnit?: string | null;
  patientPseudonym?: string | null;
  requestId?: string | null;
  source?: string | null;
  /** Free detail: never phone numbers, never secrets, never audio. */
  details?: Record<string, unknown>;
}
