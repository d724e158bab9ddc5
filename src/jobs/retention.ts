// Retention: recordings are erased when their time is up, without anyone having to remember.
// A period applies to every care unit (CALLVAULT_RETENTION_DAYS), and a unit may have its own
// (CALLVAULT_RETENTION_BY_UNIT). Each run erases, in batches, the recordings whose call started
// longer ago than their unit's period, exactly as a privacy officer's erasure does (key,
// numbers and indexes in the transaction, objects queued and deleted by the purge), with the
// system as the actor and `retention` as the basis. A recording under legal hold is kept, and
// erased at the first run after its hold is released. With several nodes one runs it at a time
// (runAlone); and as each erasure is a conditional update, a recording is erased once anyway.
import type { Kysely } from 'kysely';
import type { Actor } from '../audit/events.ts';
import type { AuditLog } from '../audit/log.ts';
import { runAlone } from '../catalog/db.ts';
import type { Database } from '../catalog/schema.ts';
import type { Config } from '../config/config.ts';
import { eraseManyInCatalog } from '../playback/erasure.ts';
import type { Purge } from './purge.ts';

export const DAY_MS = 86_400_000;
const SYSTEM: Actor = { type: 'system', id: 'retention' };
/** Erasures per transaction: one commit (one fsync) for many, short enough not to hold writers up. */
const BATCH = 100;

export interface RetentionRules {
  /** Days a recording is kept in a unit without a period of its own; null: kept until erased by hand. */
  days: number | null;
  /** Units with a period of their own. */
  byUnit: Readonly<Record<string, number>>;
}

export interface RetentionRule {
  /** The unit, or null for every unit without a period of its own. */
  unit: string | null;
  days: number;
}

/** The periods a configuration sets. */
export function retentionOf(c: Pick<Config, 'retentionDays' | 'retentionByUnit'>): RetentionRules {
  return { days: c.retentionDays ?? null, byUnit: c.retentionByUnit };
}

export function retentionRules(r: RetentionRules): RetentionRule[] {
  return [...Object.entries(r.byUnit).map(([unit, days]) => ({ unit, days })), ...(r.days === null ? [] : [{ unit: null, days: r.days }])];
}

export interface RetentionReport {
  /** Recordings erased, per rule (unit name, or * for the default). */
  erased: Record<string, number>;
  /** Recordings past their period kept because of a legal hold. */
  held: number;
  /** Another node was running it (scale-out): this run did nothing. */
  elsewhere?: true;
  /** Stopped before the end (a shutdown): the rest is erased at the next run. */
  stopped?: true;
}

export interface Retention {
  /** One run: erases every recording past its period (not under hold). */
  run(): Promise<RetentionReport>;
  /** Ends a run under way after its current batch (a shutdown); what is left is erased at the next run. */
  stop(): void;
  /** Units given a period of their own that hold no recording at all (a misspelt name leaves its unit under the default period). */
  unknownUnits(): Promise<string[]>;
  /** What a run would erase now, without erasing anything. */
  due(): Promise<RetentionReport>;
}

export function createRetention(deps: {
  db: Kysely<Database>; audit: AuditLog; purge: Purge; rules: RetentionRules; now?: () => number;
  /** Who the erasures are audited as: the system (the server's runs), or the operator who ran the command. */
  actor?: Actor;
}): Retention {
  const { db } = deps;
  const actor = deps.actor ?? SYSTEM;
  const now = deps.now ?? Date.now;
  const rules = retentionRules(deps.rules);
  const units = Object.keys(deps.rules.byUnit);
  let stopping = false;

  /** Recordings not erased whose call started before the rule's cutoff, in its units; held ones or not. */
  function past(rule: RetentionRule, cutoff: number, held: boolean) {
    let q = db.selectFrom('recordings').where('erased_at', 'is', null).where('started_at', '<', cutoff).where('legal_hold', '=', held ? 1 : 0);
    if (rule.unit !== null) q = q.where('care_unit', '=', rule.unit);
    else if (units.length > 0) q = q.where('care_unit', 'not in', units);
    return q;
  }

  async function count(rule: RetentionRule, cutoff: number, held: boolean): Promise<number> {
    const { n } = await past(rule, cutoff, held).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(n);
  }

  const label = (rule: RetentionRule) => rule.unit ?? '*';

  return {
    async due() {
      const t = now();
      const report: RetentionReport = { erased: {}, held: 0 };
      for (const rule of rules) {
        const cutoff = t - rule.days * DAY_MS;
        report.erased[label(rule)] = await count(rule, cutoff, false);
        report.held += await count(rule, cutoff, true);
      }
      return report;
    },

    async run() {
      if (rules.length === 0) return { erased: {}, held: 0 }; // no period set: nothing to run, nothing to audit
      stopping = false;
      return (await runAlone(db, 'retention', runOnce)) ?? { erased: {}, held: 0, elsewhere: true };
    },

    stop() {
      stopping = true;
    },

    async unknownUnits() {
      const unknown: string[] = [];
      for (const unit of units) {
        if (!(await db.selectFrom('recordings').select('id').where('care_unit', '=', unit).limit(1).executeTakeFirst())) unknown.push(unit);
      }
      return unknown;
    },
  };

  async function runOnce(): Promise<RetentionReport> {
    const t = now();
    const report: RetentionReport = { erased: {}, held: 0 };
    for (const rule of rules) {
      const cutoff = t - rule.days * DAY_MS;
      let erased = 0;
      let after = { started: Number.MIN_SAFE_INTEGER, id: '' };
      for (;;) {
        // In the order of the index of recordings not erased; a row another node erased meanwhile is skipped.
        // The range starts at the cursor: what the rule skips (held, other units' longer periods) is read once per run.
        const batch = await past(rule, cutoff, false).where('started_at', '>=', after.started)
          .where((eb) => eb.or([eb('started_at', '>', after.started), eb.and([eb('started_at', '=', after.started), eb('id', '>', after.id)])]))
          .select(['id', 'care_unit', 'caller_index', 'callee_index', 'direction', 'patient_index', 'started_at'])
          .orderBy('started_at').orderBy('id').limit(BATCH).execute();
        if (batch.length === 0) break;
        const done = await db.transaction().execute((trx) => eraseManyInCatalog(trx, deps.audit, batch, {
          actor, basis: 'retention', at: t, details: { retentionDays: rule.days }, detailsOf: (r) => ({ startedAt: new Date(r.started_at).toISOString() }),
        }));
        erased += done.size; // each erased recording queued its objects
        const last = batch.at(-1)!;
        after = { started: last.started_at, id: last.id };
        if (batch.length < BATCH) break;
        // The embedded catalog's driver is synchronous: without a turn of the event loop between
        // batches, a backlog of millions would keep every request (and a shutdown) waiting.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (stopping) {
          report.stopped = true;
          break;
        }
      }
      report.erased[label(rule)] = erased;
      if (report.stopped) break;
      report.held += await count(rule, cutoff, true);
    }
    // The run itself is audited, what it did or not: an auditor sees that retention runs on time.
    await deps.audit.record({
      action: 'retention.run', actor, outcome: 'success',
      details: { periods: Object.fromEntries(rules.map((r) => [label(r), r.days])), ...report },
    });
    if (Object.values(report.erased).some((n) => n > 0)) {
      // The keys are gone from the rows: out of the catalog's files too, whatever the store does.
      deps.purge.erased();
      if (!stopping) {
        // The objects go now (a run already under way may have listed the queue before them).
        await deps.purge.idle();
        await deps.purge.run();
      }
    }
    return report;
  }
}
