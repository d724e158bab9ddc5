// Alerts on unusual access: rules evaluated on every audit event as it is recorded. A rule that
// fires writes an alert record (for auditors), a log line, and a webhook call if configured.
// Alerts carry actors, rules and counts: never phone numbers, never audio.
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
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
  const windows = new Map<string, number[]>();
  const recent = new Map<string, number>(); // rule|actor -> last alert time (one alert per rule and actor per window)
  let work: Promise<void> = Promise.resolve();

  function hits(key: string, at: number, spanMs: number): number {
    const list = (windows.get(key) ?? []).filter((t) => at - t < spanMs);
    list.push(at);
    windows.set(key, list);
    return list.length;
  }

  function raise(a: Alert, at: number, quietMs: number): void {
    const key = `${a.rule}|${a.actorType}|${a.actorId}`;
    const last = recent.get(key);
    if (last !== undefined && at - last < quietMs) return;
    recent.set(key, at);
    deps.log({ alert: a.rule, actorType: a.actorType, actorId: a.actorId, summary: a.summary });
    work = work.then(async () => {
      await deps.db.insertInto('audit_alerts').values({ at, rule: a.rule, actor_type: a.actorType, actor_id: a.actorId, summary: a.summary, details: JSON.stringify(a.details) }).execute();
      if (deps.rules.webhook) {
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
    }).catch((err) => deps.log({ alertStore: 'failed', error: (err as Error).message }));
  }

  return {
    observe(e, at) {
      const actor = { actorType: e.actor.type, actorId: e.actor.id };
      const who = `${e.actor.type}:${e.actor.id}`;
      if (e.action === 'recording.played' && e.outcome === 'success') {
        const n = hits(`plays|${who}`, at, 3600_000);
        if (n > deps.rules.playsPerHour) raise({ rule: 'plays_per_hour', ...actor, summary: `${n} plays within an hour (limit ${deps.rules.playsPerHour})`, details: { plays: n } }, at, 3600_000);
      }
      if (e.outcome === 'denied') {
        const n = hits(`denials|${who}`, at, 600_000);
        if (n >= deps.rules.denialsPer10Min) raise({ rule: 'repeated_denials', ...actor, summary: `${n} denials within ten minutes`, details: { denials: n, action: e.action } }, at, 600_000);
      }
      const wh = deps.rules.workingHours;
      if (wh && ACCESS.has(e.action) && e.actor.type === 'user') {
        const h = hourIn(at, wh.timeZone);
        if (h < wh.from || h >= wh.to) raise({ rule: 'outside_working_hours', ...actor, summary: `access at ${String(h).padStart(2, '0')}:xx ${wh.timeZone}, outside ${wh.from}-${wh.to}`, details: { hour: h, action: e.action } }, at, 3600_000);
      }
      if (e.action === 'access.break_glass') raise({ rule: 'break_glass', ...actor, summary: 'emergency access was used', details: { action: e.action } }, at, 0);
    },
    settled: () => work,
  };
}

/** Rules from the environment: CALLVAULT_ALERT_PLAYS_PER_HOUR, CALLVAULT_ALERT_WORKING_HOURS ("07-18"),
 * CALLVAULT_ALERT_TIMEZONE (default Europe/Stockholm), CALLVAULT_ALERT_DENIALS, CALLVAULT_ALERT_WEBHOOK. */
export function rulesFromEnv(env: NodeJS.ProcessEnv): AlertRules {
  const wh = /^(\d{1,2})-(\d{1,2})$/.exec(env.CALLVAULT_ALERT_WORKING_HOURS ?? '');
  const webhook = env.CALLVAULT_ALERT_WEBHOOK ?? null;
  if (webhook !== null && !/^https?:\/\//.test(webhook)) throw new Error('CALLVAULT_ALERT_WEBHOOK must be an http(s) URL');
  return {
    playsPerHour: Number(env.CALLVAULT_ALERT_PLAYS_PER_HOUR ?? DEFAULT_RULES.playsPerHour),
    denialsPer10Min: Number(env.CALLVAULT_ALERT_DENIALS ?? DEFAULT_RULES.denialsPer10Min),
    workingHours: wh ? { from: Number(wh[1]), to: Number(wh[2]), timeZone: env.CALLVAULT_ALERT_TIMEZONE ?? 'Europe/Stockholm' } : null,
    webhook,
  };
}
