// Table types of the catalog, shared by the SQLite and PostgreSQL dialects.
// Times are integer milliseconds since the epoch (UTC), bigint columns read back as JS numbers;
// binary values are Uint8Array (a Buffer when read).
import type { Generated, Insertable, Selectable } from 'kysely';

export interface RecordingTable {
  id: string; // 128-bit random, 32 hex chars; says nothing about the call
  external_call_id: string | null; // the PBX's or call-center app's own id
  started_at: number;
  duration_ms: number;
  direction: 'inbound' | 'outbound';
  care_unit: string;
  agent_id: string | null;
  codec: string;
  container: Generated<string>; // wav, raw or ogg
  sample_rate: number;
  channels: number;
  caller_sealed: Uint8Array | null; // E.164, sealed under the recording's own file key
  callee_sealed: Uint8Array | null;
  caller_index: Uint8Array | null; // keyed blind index of the E.164 number
  callee_index: Uint8Array | null;
  patient_index: Generated<Uint8Array | null>; // keyed blind index of the patient's personnummer, when declared at ingest
  header: Uint8Array; // the age header (wrapped file key); the payload lives in the blob store
  blob_key: string;
  payload_size: number;
  plaintext_size: number;
  flags: string; // JSON array of flag names
  ingest_key_id: string | null;
  created_at: number;
  legal_hold: Generated<number>; // 1: kept from erasure until released
  erased_at: number | null; // set when erased: header, numbers and payload are gone
  upload_length: Generated<number | null>; // the Upload-Length declared at ingest; null if never declared
}

/** A live upload in flight: enough to recover it after a crash. Rows go when it is filed. */
export interface UploadTable {
  id: string;
  key_id: string;
  created_at: number;
  length: number | null; // null while deferred (a live call's length is known at hang-up)
  header: Uint8Array;
  payload_prefix: Uint8Array;
  blob_key: string; // the temporary (uncommitted) object holding the sealed chunks
  codec: string; // as declared: wav, pcmu, pcma, ogg-opus
  sample_rate: number | null;
  channels: number | null;
  external_call_id: string | null;
  started_at: number;
  direction: 'inbound' | 'outbound';
  care_unit: string;
  agent_id: string | null;
  caller_sealed: Uint8Array | null;
  callee_sealed: Uint8Array | null;
  caller_index: Uint8Array | null;
  callee_index: Uint8Array | null;
  resumes_recording: number; // 1 when this upload continues a recording filed after a crash
  patient_index: Uint8Array | null; // keyed blind index of the patient's personnummer, when declared
  node_id: string | null; // the node receiving it (PostgreSQL catalog); null on the embedded default
}

/** A serving process over the catalog (PostgreSQL). Its lease is renewed as it works. */
export interface IngestNodeTable {
  id: string; // CALLVAULT_NODE_ID, or the host name
  incarnation: string; // random per start: an older process under the same name is fenced off
  started_at: number;
  seen_at: number; // lease renewed; past the lease, another node may adopt its uploads
  stopped_at: number | null;
  clean: Generated<number>; // 1: it stopped cleanly (its calls are interrupted, not crashed)
}

/** The ingest journal on PostgreSQL: sealed records, readable by any node (journal.ts format). */
export interface IngestJournalTable {
  seq: Generated<number>;
  node_id: string;
  gen: number;
  upload_id: string;
  record: Uint8Array;
}

export interface UserTable {
  id: string;
  username: string;
  roles: string; // JSON array of role names (access/policy.ts)
  care_units: string; // JSON array of care units/queues the person's roles reach; "*" is every unit
  agent_id: string | null; // the agent id the person's own calls carry
  oidc_issuer: string | null; // set for people who sign in through single sign-on
  oidc_subject: string | null;
  updated_at: number | null;
  status: 'invited' | 'active' | 'disabled';
  password_hash: string | null;
  totp_sealed: Uint8Array | null; // TOTP secret sealed under the server's secrets key
  totp_last_step: number | null; // last accepted TOTP time step (replay guard)
  created_at: number;
}

export interface EnrollmentTable {
  token_hash: string;
  user_id: string;
  expires_at: number;
  used_at: number | null;
  pending_totp_sealed: Uint8Array | null; // secret shown to the person, confirmed by a first code
}

export interface SessionTable {
  id_hash: string;
  user_id: string;
  csrf_token: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  auth_method: Generated<string>; // password+totp, password+recovery, passkey, oidc
  step_up_at: number | null; // when the second factor was last proven in this session
}

export interface RecoveryCodeTable {
  user_id: string;
  code_hash: string;
  used_at: number | null;
}

export interface PasskeyTable {
  id: string;
  user_id: string;
  public_key: Uint8Array;
  counter: number;
  transports: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
}

export interface AuthThrottleTable {
  key: string;
  failures: number;
  window_start: number;
  locked_until: number | null;
}

export interface AuthChallengeTable {
  id_hash: string;
  purpose: string;
  user_id: string | null;
  data: string;
  expires_at: number;
}

export interface BreakGlassTable {
  id: string;
  user_id: string;
  recording_id: string;
  care_unit: string;
  reason: string;
  created_at: number;
  expires_at: number;
  review_state: 'open' | 'closed';
  reviewed_by: string | null;
  reviewed_at: number | null;
  review_verdict: 'justified' | 'unjustified' | null;
  review_note: string | null;
}

export interface ApiKeyTable {
  id: string;
  name: string;
  scope: string;
  secret_hash: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
  allowed_cidrs: string | null; // JSON array of CIDR ranges the key may be used from; null = anywhere
  rate_per_s: number | null; // requests a second; null = the default
}

export interface AuditEventTable {
  seq: Generated<number>;
  at: number;
  actor_type: 'user' | 'api_key' | 'operator' | 'anonymous' | 'system';
  actor_id: string | null;
  action: string;
  object_type: string | null;
  object_id: string | null;
  care_unit: string | null;
  patient_pseudonym: string | null;
  outcome: 'success' | 'denied' | 'failure';
  request_id: string | null;
  source: string | null;
  details: string | null; // JSON, never phone numbers or secrets
  leaf_hash: Uint8Array; // RFC 6962 leaf hash of the entry (audit/entry.ts)
}

export interface AuditAlertTable {
  id: Generated<number>;
  at: number;
  rule: string;
  actor_type: string;
  actor_id: string | null;
  summary: string;
  details: string | null; // JSON: counts and windows, never numbers or audio
}

export interface AuditCheckpointTable {
  size: number;
  root: Uint8Array;
  note: string; // C2SP signed note
  created_at: number;
}

/** The archive this catalog belongs to (one row): its public recipient, as in DATA/callvault.json. */
export interface ArchiveBindingTable {
  archive_recipient: string;
  bound_at: number;
}

export interface RecordingsPerDayTable {
  day: number; // UTC day: started_at / 86,400,000
  care_unit: string;
  calls: number;
}

/** An object an erasure left to delete: removed by the purge job (jobs/purge.ts), retried while the store fails. */
export interface PendingDeletionTable {
  blob_key: string;
  recording_id: string;
  queued_at: number;
  attempts: Generated<number>;
  last_error: string | null;
}

export interface Database {
  recordings: RecordingTable;
  recordings_per_day: RecordingsPerDayTable;
  uploads: UploadTable;
  ingest_nodes: IngestNodeTable;
  ingest_journal: IngestJournalTable;
  users: UserTable;
  enrollments: EnrollmentTable;
  sessions: SessionTable;
  recovery_codes: RecoveryCodeTable;
  passkeys: PasskeyTable;
  auth_throttle: AuthThrottleTable;
  auth_challenges: AuthChallengeTable;
  break_glass: BreakGlassTable;
  api_keys: ApiKeyTable;
  audit_events: AuditEventTable;
  audit_checkpoints: AuditCheckpointTable;
  audit_alerts: AuditAlertTable;
  archive_binding: ArchiveBindingTable;
  pending_deletions: PendingDeletionTable;
}

export type Recording = Selectable<RecordingTable>;
export type UploadRow = Selectable<UploadTable>;
export type NewRecording = Insertable<RecordingTable>;
export type User = Selectable<UserTable>;
export type BreakGlass = Selectable<BreakGlassTable>;
export type ApiKeyRow = Selectable<ApiKeyTable>;
export type NewAuditEvent = Insertable<AuditEventTable>;
