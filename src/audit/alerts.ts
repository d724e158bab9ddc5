// Alerts on unusual access: rules evaluated on every audit event as it is recorded, counting
// from the shared audit log (so several nodes, and restarts, see the same windows). A rule that
// fires writes an alert record (for auditors), a log line, and a webhook call if configured;
// the same rule fires once per actor and window across all nodes.
// Alerts carry actors, rules and counts: never phone numbers, never audio.
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { ConfigError } from '../config/config.ts';
import type { AuditEvent } from './events.ts';

export interface AlertRules {
  /** More plays than this by one person within an hour. */
  playsPerHour: number;
  /** Working hours [from, to) in `timeZone`; access outside them alerts. */
  workingHours: { from: number; to: number; timeZone: string } | null;
  /** This many denials for one actor within ten minutes. */
  denialsPer10Min: number;
  /** Where alerts are POSTed as JSON, if anywhere. */
  webhook: string | null;
}

export const DEFAULT_RULES: AlertRules = { playsPerHour: 60, workingHours: null, denialsPer10Min: 5, webhook: null };

export interface Alert {
  rule: 'plays_per_hour' | 'outside_working_hours' | 'repeated_denials' | 'break_glass';
  actorType: string;
  actorId: string | null;
  summary: string;
  details: Record<string, unknown>;
}

const ACCESS = new Set(['recording.played', 'recording.viewed', 'recording.exported', 'recordings.listed']);

function hourIn(ms: number, timeZone: string): number {
  return Number(new Intl.DateTimeFormat('en-GB', { hour: '2-digit', hourCycle: 'h23', timeZone }).format(new Date(ms)));
}

export interface AlertEngine {
  observe(e: AuditEvent, at: number): void;
  /** Resolves when every alert raised so far is stored and sent (for tests and shutdown). */
  settled(): Promise<void>;
}

export function createAlertEngine(deps: { db: Kysely<Database>; rules: AlertRules; log: (line: Record<string, unknown>) => void; fetch?: typeof fetch }): AlertEngine {
  let work: Promise<void> = Promise.resolve();
  /** Rule and actor -> until when an alert already raised keeps the rule quiet for them. */
  const quietUntil = new Map<string, number>();
  const keyOf = (rule: Alert['rule'], a: { actorType: string; actorId: string | null }) => `${rule}\u0000${a.actorType}\u0000${a.actorId ?? ''}`;
  /**
   * Within the quiet time of an alert this node raised or found, the rule has nothing to do for
   * that actor: no count, no catalog read (other nodes find the alert in the catalog).
   */
  const quiet = (key: string, at: number) => {
    const until = quietUntil.get(key);
    if (until === undefined) return false;
    if (until > at) return true;
    quietUntil.delete(key);
    return false;
  };

  /**
   * The actor's events in the window, counted from the shared audit log (every node over the
   * catalog sees the same count, and a restart forgets nothing), up to `enough`: a rule needs
   * to know whether its limit is reached, and someone playing calls by the thousand (whom the
   * rule is for) must not make every one of their events read all the others.
   */
  async function count(e: AuditEvent, at: number, spanMs: number, match: { action?: string; outcome: AuditEvent['outcome'] }, enough: number): Promise<number> {
    let q = deps.db.selectFrom('audit_events').select('seq')
      .where('actor_type', '=', e.actor.type).where('at', '>', at - spanMs).where('at', '<=', at).where('outcome', '=', match.outcome);
    q = e.actor.id === null ? q.where('actor_id', 'is', null) : q.where('actor_id', '=', e.actor.id);
    if (match.action) q = q.where('action', '=', match.action);
    const n = await deps.db.selectFrom(q.limit(enough).as('w')).select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirst();
    return Number(n?.n ?? 0);
  }

  /** Stores the alert unless the same rule fired for the same actor within `quietMs` (on any node), then logs and sends it. */
  async function raise(a: Alert, at: number, quietMs: number): Promise<void> {
    const key = keyOf(a.rule, a);
    if (quietMs > 0 && quiet(key, at)) return;
    const stored = await deps.db.transaction().execute(async (trx) => {
      if (quietMs > 0) {
        let q = trx.selectFrom('audit_alerts').select('id').where('rule', '=', a.rule).where('actor_type', '=', a.actorType).where('at', '>', at - quietMs);
        q = a.actorId === null ? q.where('actor_id', 'is', null) : q.where('actor_id', '=', a.actorId);
        const found = await q.select('at').orderBy('at', 'desc').limit(1).executeTakeFirst();
        if (found) {
          quietUntil.set(key, Number(found.at) + quietMs);
          return false;
        }
      }
      await trx.insertInto('audit_alerts').values({ at, rule: a.rule, actor_type: a.actorType, actor_id: a.actorId, summary: a.summary, details: JSON.stringify(a.details) }).execute();
      return true;
    });
    if (!stored) return;
    if (quietMs > 0) quietUntil.set(key, at + quietMs);
    deps.log({ alert: a.rule, actorType: a.actorType, actorId: a.actorId, summary: a.summary });
    if (!deps.rules.webhook) return;
    try {
      const res = await (deps.fetch ?? fetch)(deps.rules.webhook, {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000),
        body: JSON.stringify({ source: 'callvault', at: new Date(at).toISOString(), ...a }),
      });
      if (!res.ok) deps.log({ alertWebhook: 'failed', status: res.status });
    } catch (err) {
      deps.log({ alertWebhook: 'failed', error: (err as Error).name });
    }
  }

  async function evaluate(e: AuditEvent, at: number): Promise<void> {
    const actor = { actorType: e.actor.type, actorId: e.actor.id };
    if (e.action === 'recording.played' && e.outcome === 'success' && !quiet(keyOf('plays_per_hour', actor), at)) {
      const limit = deps.rules.playsPerHour;
      if (await count(e, at, 3600_000, { action: 'recording.played', outcome: 'success' }, limit + 1) > limit) {
        await raise({ rule: 'plays_per_hour', ...actor, summary: `more than ${limit} plays within an hour`, details: { limit } }, at, 3600_000);
      }
    }
    if (e.outcome === 'denied' && !quiet(keyOf('repeated_denials', actor), at)) {
      const limit = deps.rules.denialsPer10Min;
      if (await count(e, at, 600_000, { outcome: 'denied' }, limit) >= limit) {
        await raise({ rule: 'repeated_denials', ...actor, summary: `${limit} denials or more within ten minutes`, details: { limit, action: e.action } }, at, 600_000);
      }
    }
    const wh = deps.rules.workingHours;
    if (wh && ACCESS.has(e.action) && e.actor.type === 'user') {
      const h = hourIn(at, wh.timeZone);
      if (outsideHours(h, wh)) await raise({ rule: 'outside_working_hours', ...actor, summary: `access at ${String(h).padStart(2, '0')}:xx ${wh.timeZone}, outside ${wh.from}-${wh.to}`, details: { hour: h, action: e.action } }, at, 3600_000);
    }
    if (e.action === 'access.break_glass') await raise({ rule: 'break_glass', ...actor, summary: 'emergency access was used', details: { action: e.action } }, at, 0);
  }

  return {
    observe(e, at) {
      // In order, off the request's path; a failure is logged, never thrown at the audit log.
      work = work.then(() => evaluate(e, at)).catch((err) => deps.log({ alertStore: 'failed', error: (err as Error).message }));
    },
    settled: () => work,
  };
}

/** Whether hour `h` lies outside working hours [from, to); hours that run past midnight (22-06) wrap. */
export function outsideHours(h: number, wh: { from: number; to: number }): boolean {
  return wh.from < wh.to ? h < wh.from || h >= wh.to : h < wh.from && h >= wh.to;
}

/** A whole number of at least 1 from the environment, or the default when the variable is unset or empty. */
function atLeastOne(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new ConfigError(`${name} must be a whole number of at least 1 (it is "${v.slice(0, 20)}")`);
  return Number(v);
}

/**
 * Rules from the environment: CALLVAULT_ALERT_PLAYS_PER_HOUR, CALLVAULT_ALERT_WORKING_HOURS
 * ("07-18", or "22-06" across midnight), CALLVAULT_ALERT_TIMEZONE (default Europe/Stockholm),
 * CALLVAULT_ALERT_DENIALS, CALLVAULT_ALERT_WEBHOOK. A value that says nothing sensible stops the
 * start with its reason: a rule silently off is worse than no start.
 */
export function rulesFromEnv(env: NodeJS.ProcessEnv): AlertRules {
  const webhook = env.CALLVAULT_ALERT_WEBHOOK || null;
  if (webhook !== null && !/^https?:\/\//.test(webhook)) throw new ConfigError('CALLVAULT_ALERT_WEBHOOK must be an http(s) URL');
  let workingHours: AlertRules['workingHours'] = null;
  const hours = env.CALLVAULT_ALERT_WORKING_HOURS;
  if (hours) {
    const m = /^(\d{1,2})-(\d{1,2})$/.exec(hours);
    const [from, to] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
    if (!m || from > 23 || to > 24 || from === to) {
      throw new ConfigError(`CALLVAULT_ALERT_WORKING_HOURS must read FROM-TO in whole hours, e.g. 07-18, or 22-06 across midnight (it is "${hours.slice(0, 20)}")`);
    }
    const timeZone = env.CALLVAULT_ALERT_TIMEZONE || 'Europe/Stockholm';
    try {
      new Intl.DateTimeFormat('en-GB', { timeZone });
    } catch {
      throw new ConfigError(`CALLVAULT_ALERT_TIMEZONE is not a time zone this system knows (it is "${timeZone.slice(0, 40)}"); e.g. Europe/Stockholm`);
    }
    workingHours = { from, to, timeZone };
  }
  return {
    playsPerHour: atLeastOne(env, 'CALLVAULT_ALERT_PLAYS_PER_HOUR', DEFAULT_RULES.playsPerHour),
    denialsPer10Min: atLeastOne(env, 'CALLVAULT_ALERT_DENIALS', DEFAULT_RULES.denialsPer10Min),
    workingHours,
    webhook,
  };
}
