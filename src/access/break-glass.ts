// Break-glass: a person whose role may play recordings opens one outside their scope by
// stating a reason. The grant covers that one recording, for metadata and playback only, for a
// limited time (60 minutes by default); it is audited as emergency access and opens a review
// item that a supervisor of the recording's care unit or an auditor (never the person
// themselves) must close.
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/log.ts';
import { outsidePartyIndex, pseudonymOfIndex } from '../catalog/blind-index.ts';
import { newId } from '../catalog/ids.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { BreakGlass, Database } from '../catalog/schema.ts';
import { AccountError } from './accounts.ts';
import { actorOf, mayBreakGlass, mayReviewBreakGlass, permittedRecordings, reviewScope, type Principal, type UserPrincipal } from './policy.ts';

export const BREAK_GLASS_MINUTES = 60;

export interface BreakGlassView {
  id: string;
  userId: string;
  username: string;
  recordingId: string;
  careUnit: string;
  reason: string;
  createdAt: string;
  expiresAt: string;
  state: 'open' | 'closed';
  reviewedBy: string | null;
  reviewedAt: string | null;
  verdict: 'justified' | 'unjustified' | null;
  note: string | null;
}

interface Info {
  requestId: string;
  source: string;
}

export interface BreakGlassService {
  /** Ids among `recordingIds` the user holds a live grant for. */
  grantedIds(userId: string, recordingIds: readonly string[]): Promise<Set<string>>;
  /** The id of the user's live grant for one recording, if they hold one. */
  grantOf(userId: string, recordingId: string): Promise<string | null>;
  open(p: Principal, recordingId: string, reason: string, info: Info): Promise<{ id: string; expiresAt: string }>;
  /** The review queue the principal may see, newest first. */
  list(p: Principal, state: 'open' | 'closed' | 'all'): Promise<BreakGlassView[]>;
  review(p: Principal, id: string, verdict: 'justified' | 'unjustified', note: string, info: Info): Promise<BreakGlassView>;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function createBreakGlass(deps: { db: Kysely<Database>; audit: AuditLog; recordings: RecordingRepo; minutes?: number; now?: () => number }): BreakGlassService {
  const { db, audit } = deps;
  const now = deps.now ?? Date.now;
  const grantMs = (deps.minutes ?? BREAK_GLASS_MINUTES) * 60_000;

  function present(g: BreakGlass & { username: string }): BreakGlassView {
    return {
      id: g.id, userId: g.user_id, username: g.username, recordingId: g.recording_id, careUnit: g.care_unit, reason: g.reason,
      createdAt: iso(g.created_at)!, expiresAt: iso(g.expires_at)!, state: g.review_state, reviewedBy: g.reviewed_by,
      reviewedAt: iso(g.reviewed_at), verdict: g.review_verdict, note: g.review_note,
    };
  }

  async function grantedIds(userId: string, recordingIds: readonly string[]): Promise<Set<string>> {
    if (recordingIds.length === 0) return new Set();
    const rows = await db.selectFrom('break_glass').select('recording_id')
      .where('user_id', '=', userId).where('recording_id', 'in', recordingIds).where('expires_at', '>', now()).execute();
    return new Set(rows.map((r) => r.recording_id));
  }

  async function grantOf(userId: string, recordingId: string): Promise<string | null> {
    const row = await db.selectFrom('break_glass').select('id')
      .where('user_id', '=', userId).where('recording_id', '=', recordingId).where('expires_at', '>', now()).orderBy('expires_at', 'desc').executeTakeFirst();
    return row?.id ?? null;
  }

  const withUser = () => db.selectFrom('break_glass').innerJoin('users', 'users.id', 'break_glass.user_id').selectAll('break_glass').select('users.username');

  return {
    grantedIds,
    grantOf,

    async open(p, recordingId, reason, info) {
      const r = await deps.recordings.get(recordingId);
      const why = reason.trim();
      if (!r || p.kind !== 'user' || !mayBreakGlass(p, r)) {
        const inScope = r !== undefined && permittedRecordings(p, 'recordings:play', [r]).has(r.id);
        await audit.record({ action: 'recording.denied', actor: actorOf(p), outcome: 'denied', object: { type: 'recording', id: recordingId }, ...info, details: { permission: 'recordings:break_glass', found: Boolean(r), inScope } });
        if (inScope) throw new AccountError(409, 'this recording is within your scope already; open it normally');
        throw new AccountError(404, 'not found');
      }
      // A refusal is audited without the reason's text, which may name the patient.
      const refuse = (reason: 'reason_too_short' | 'grant_live') => audit.record({ action: 'recording.denied', actor: actorOf(p), outcome: 'denied', object: { type: 'recording', id: r.id },
        careUnit: r.care_unit, ...info, details: { permission: 'recordings:break_glass', found: true, reason } });
      if (why.length < 10) {
        await refuse('reason_too_short');
        throw new AccountError(400, 'state the reason for emergency access in at least 10 characters');
      }
      if (await grantOf(p.userId, r.id)) {
        await refuse('grant_live');
        throw new AccountError(409, 'you already hold emergency access to this recording');
      }
      const t = now();
      const id = newId();
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('break_glass').values({
          id, user_id: p.userId, recording_id: r.id, care_unit: r.care_unit, reason: why, created_at: t, expires_at: t + grantMs,
          review_state: 'open', reviewed_by: null, reviewed_at: null, review_verdict: null, review_note: null,
        }).execute();
        // The reason stays in the review item; the immutable log carries the grant, not free text.
        await audit.record({ action: 'access.break_glass', actor: actorOf(p), outcome: 'success', object: { type: 'recording', id: r.id }, careUnit: r.care_unit,
          patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), ...info, details: { grant: id, minutes: grantMs / 60_000 } }, trx);
      });
      return { id, expiresAt: iso(t + grantMs)! };
    },

    async list(p, state) {
      const scope = reviewScope(p);
      if (scope.kind === 'none' || p.kind !== 'user') return [];
      let q = withUser().where('break_glass.user_id', '!=', p.userId);
      if (state !== 'all') q = q.where('break_glass.review_state', '=', state);
      if (scope.kind === 'units') {
        if (scope.careUnits.length === 0) return [];
        q = q.where('break_glass.care_unit', 'in', scope.careUnits);
      }
      const rows = await q.orderBy('break_glass.created_at', 'desc').limit(500).execute();
      return rows.map(present);
    },

    async review(p, id, verdict, note, info) {
      const g = await withUser().where('break_glass.id', '=', id).executeTakeFirst();
      if (!g || !mayReviewBreakGlass(p, g)) {
        await audit.record({ action: 'access.break_glass_reviewed', actor: actorOf(p), outcome: 'denied', object: { type: 'break_glass', id }, ...info, details: { found: Boolean(g) } });
        throw new AccountError(404, 'no such break-glass item for you to review');
      }
      if (g.review_state === 'closed') throw new AccountError(409, 'this item was reviewed already');
      const reviewer = (p as UserPrincipal).username;
      const t = now();
      await db.transaction().execute(async (trx) => {
        const done = await trx.updateTable('break_glass').set({ review_state: 'closed', reviewed_by: reviewer, reviewed_at: t, review_verdict: verdict, review_note: note.trim() || null })
          .where('id', '=', id).where('review_state', '=', 'open').executeTakeFirst();
        if (Number(done.numUpdatedRows) !== 1) throw new AccountError(409, 'this item was reviewed already');
        await audit.record({ action: 'access.break_glass_reviewed', actor: actorOf(p), outcome: 'success', object: { type: 'break_glass', id }, careUnit: g.care_unit, ...info,
          details: { verdict, recording: g.recording_id, grantee: g.user_id } }, trx);
      });
      return present({ ...g, review_state: 'closed', reviewed_by: reviewer, reviewed_at: t, review_verdict: verdict, review_note: note.trim() || null });
    },
  };
}
