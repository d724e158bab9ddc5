// Finding a recording for a principal, through the policy: the one gate every recording route
// passes (playback, download, export, legal hold, erasure). A refusal is audited; its answer is
// 404 unless the asker may break the glass, who learns that the recording exists.
import { actorOf, mayBreakGlass, permittedRecordings, recordingActions, type Principal, type RecordingAction, type RecordingPermission } from '../access/policy.ts';
import { requireStepUp as requireFreshFactor } from '../access/routes.ts';
import type { AuditLog } from '../audit/log.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { Recording } from '../catalog/schema.ts';
import { HttpError, notFound } from '../http/errors.ts';

export interface RequestInfo {
  requestId: string;
  source: string;
}

/**
 * A recording the principal reached, with the break-glass grant that opened it when only a grant
 * did (emergency access), and the principal's live grant for it whether needed or not.
 */
export type PermittedRecording = Recording & { emergencyGrant: string | null; liveGrant: string | null };

/** Audit details that mark a use of a recording as emergency access, naming the grant. */
export const emergencyAccess = (r: PermittedRecording): { breakGlass?: string } => (r.emergencyGrant ? { breakGlass: r.emergencyGrant } : {});

export function createRecordingAccess(deps: {
  recordings: RecordingRepo;
  audit: AuditLog;
  /** The id of the user's live break-glass grant for one recording, if any. */
  grantOf: (userId: string, recordingId: string) => Promise<string | null>;
  now?: () => number;
}) {
  async function findPermitted(p: Principal, permission: RecordingPermission, id: string, info: RequestInfo): Promise<PermittedRecording> {
    const r = await deps.recordings.get(id);
    const grant = r && p.kind === 'user' ? await deps.grantOf(p.userId, r.id) : null;
    const granted = new Set<string>(r && grant ? [r.id] : []);
    if (r && permittedRecordings(p, permission, [r], granted).has(r.id)) {
      const inScope = permittedRecordings(p, permission, [r]).has(r.id);
      return { ...r, emergencyGrant: inScope ? null : grant, liveGrant: grant };
    }
    const breakGlass = r !== undefined && (permission === 'recordings:view' || permission === 'recordings:play') && mayBreakGlass(p, r) && !granted.has(r.id);
    await deps.audit.record({ action: 'recording.denied', actor: actorOf(p), outcome: 'denied', object: { type: 'recording', id }, careUnit: r?.care_unit ?? null, ...info, details: { permission, found: Boolean(r), breakGlass } });
    // Staff who may break the glass learn that the recording exists and how to open it; for
    // everyone else, whether a recording exists is itself not theirs to learn: 404.
    if (breakGlass) throw new HttpError(403, 'this recording is outside your scope; emergency access (break-glass) needs a stated reason', {}, 'break_glass_available');
    throw notFound();
  }

  /** Download, export, erasure and releasing a hold need a fresh second factor; a refusal is audited. */
  async function requireStepUp(p: Principal, r: Recording, permission: RecordingPermission, info: RequestInfo): Promise<void> {
    try {
      requireFreshFactor(p, (deps.now ?? Date.now)());
    } catch (err) {
      await deps.audit.record({ action: 'recording.denied', actor: actorOf(p), outcome: 'denied', object: { type: 'recording', id: r.id }, careUnit: r.care_unit, ...info,
        details: { permission, found: true, reason: 'step_up_required' } });
      if (err instanceof HttpError) err.audited = true;
      throw err;
    }
  }

  /** What the principal may do with a recording they reached, as the policy decides (its live grant, already looked up, included). */
  function allowedActions(p: Principal, r: PermittedRecording): RecordingAction[] {
    return recordingActions(p, r, new Set(r.liveGrant ? [r.id] : []));
  }

  return { findPermitted, requireStepUp, allowedActions };
}
