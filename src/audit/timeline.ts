// Reading the audit log for people: events newest first, filtered, in one presented shape (for
// the auditors' timeline and a recording's own access history alike).
import type { Catalog } from '../catalog/db.ts';

export interface TimelineFilter {
  limit: number;
  /** Only events before this sequence number (paging). */
  before?: number;
  /** A full action, or a prefix of lowercase letters ending in "." (e.g. "auth."; no LIKE wildcards). */
  action?: string;
  actor?: string;
  recording?: string;
  outcome?: 'success' | 'denied' | 'failure';
  from?: number;
  to?: number;
}

export interface TimelineEvent {
  seq: number;
  at: string;
  action: string;
  outcome: string;
  /** The actor; for people, their current username too (display only: the log holds the id). */
  actor: { type: string; id: string | null; username?: string };
  object: { type: string; id: string | null } | null;
  careUnit: string | null;
  patient: string | null;
  requestId: string | null;
  source: string | null;
  details: unknown;
}

export async function readTimeline(db: Catalog, f: TimelineFilter): Promise<{ items: TimelineEvent[]; next: number | null }> {
  let q = db.selectFrom('audit_events').select(['seq', 'at', 'actor_type', 'actor_id', 'action', 'object_type', 'object_id', 'care_unit', 'patient_pseudonym', 'outcome', 'request_id', 'source', 'details']);
  if (f.before) q = q.where('seq', '<', f.before);
  if (f.action) q = f.action.endsWith('.') ? q.where('action', 'like', `${f.action}%`) : q.where('action', '=', f.action);
  if (f.actor) q = q.where('actor_id', '=', f.actor);
  if (f.recording) q = q.where('object_id', '=', f.recording);
  if (f.outcome) q = q.where('outcome', '=', f.outcome);
  if (f.from !== undefined) q = q.where('at', '>=', f.from);
  if (f.to !== undefined) q = q.where('at', '<', f.to);
  const rows = await q.orderBy('seq', 'desc').limit(f.limit + 1).execute();
  const page = rows.slice(0, f.limit);
  const userIds = [...new Set(page.filter((r) => r.actor_type === 'user' && r.actor_id).map((r) => r.actor_id!))];
  const names = new Map((userIds.length ? await db.selectFrom('users').select(['id', 'username']).where('id', 'in', userIds).execute() : []).map((u) => [u.id, u.username]));
  const items = page.map((r) => ({
    seq: r.seq, at: new Date(r.at).toISOString(), action: r.action, outcome: r.outcome,
    actor: { type: r.actor_type, id: r.actor_id, ...(r.actor_type === 'user' && names.has(r.actor_id!) ? { username: names.get(r.actor_id!)! } : {}) },
    object: r.object_type ? { type: r.object_type, id: r.object_id } : null, careUnit: r.care_unit, patient: r.patient_pseudonym,
    requestId: r.request_id, source: r.source, details: r.details ? JSON.parse(r.details) as unknown : null,
  }));
  return { items, next: rows.length > f.limit ? items[items.length - 1]!.seq : null };
}
