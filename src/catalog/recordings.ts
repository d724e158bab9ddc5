// Recording rows: filing a sealed recording, finding it, listing a page.
import { NUMBER_COLUMNS } from './blind-index.ts';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { RecordingScope } from '../access/policy.ts';
import type { Database, NewRecording, Recording } from './schema.ts';

export interface RecordingPage {
  items: Recording[];
  /** Opaque cursor for the next (older) page, or null at the end. */
  next: string | null;
}

export interface ListFilter {
  /** Which recordings the asker may see at all (access/policy.ts recordingScope). */
  scope: RecordingScope;
  /** The time break-glass grants are judged live at. */
  now: number;
  limit: number;
  cursor?: string;
  careUnit?: string;
  from?: number;
  to?: number;
  /** A person's number (blind index): the calls from it and the calls to it. */
  numberIndex?: Buffer;
  agentId?: string;
  /** The PBX's or call-center app's own id of the call. */
  externalCallId?: string;
  direction?: 'inbound' | 'outbound';
  minDurationMs?: number;
  maxDurationMs?: number;
  flag?: RecordingFlag;
  /** Count erased calls too (calls received, as the daily counts do). */
  includeErased?: boolean;
}

const DAY = 86_400_000;

/** The flags a recording can carry (ingest and recovery set them; search filters on them). */
export const RECORDING_FLAGS = ['truncated_by_crash', 'interrupted_by_shutdown', 'journal_damaged', 'audio_ended_early', 'abandoned', 'synthetic'] as const;
export type RecordingFlag = (typeof RECORDING_FLAGS)[number];

/** Counts stop here: "10,000 or more" is what a person needs to know to narrow the search. */
export const COUNT_CAP = 10_000;

export class CursorError extends Error {}

function encodeCursor(r: Recording): string {
  return Buffer.from(`${r.started_at}:${r.id}`).toString('base64url');
}

function decodeCursor(c: string): { startedAt: number; id: string } {
  const m = /^(-?\d{1,16}):([0-9a-f]{32})$/.exec(Buffer.from(c, 'base64url').toString());
  if (!m) throw new CursorError('the page cursor is not valid');
  return { startedAt: Number(m[1]), id: m[2]! };
}

export interface RecordingRepo {
  insert(row: NewRecording, trx?: Transaction<Database>): Promise<void>;
  /** A recording that has not been erased. */
  get(id: string): Promise<Recording | undefined>;
  list(filter: ListFilter): Promise<RecordingPage>;
  /**
   * Calls per UTC day in [from, to) within the scope (optionally one care unit): from the
   * daily counts where the scope is care units (or all), else counted from the calls.
   */
  perDay(f: { scope: RecordingScope; now: number; from: number; to: number; careUnit?: string }): Promise<Array<{ day: string; calls: number }>>;
  /** How many recordings match the filter (the cursor aside), up to COUNT_CAP. */
  count(filter: ListFilter): Promise<{ value: number; capped: boolean }>;
}

export function createRecordingRepo(db: Kysely<Database>): RecordingRepo {
  /** The recordings matching the scope and filters, as a query; null when the scope is empty. */
  function filtered(f: ListFilter) {
    const scope = f.scope;
    if (scope.kind === 'some' && scope.careUnits.length === 0 && scope.agentId === null && scope.grantsOf === null) return null;
    let q = f.includeErased ? db.selectFrom('recordings') : db.selectFrom('recordings').where('erased_at', 'is', null);
    if (scope.kind === 'some') {
      q = q.where((eb) => eb.or([
        ...(scope.careUnits.length > 0 ? [eb('care_unit', 'in', scope.careUnits)] : []),
        ...(scope.agentId !== null ? [eb('agent_id', '=', scope.agentId)] : []),
        ...(scope.grantsOf !== null
          ? [eb('id', 'in', eb.selectFrom('break_glass').select('recording_id').where('user_id', '=', scope.grantsOf).where('expires_at', '>', f.now))]
          : []),
      ]));
    }
    if (f.agentId) q = q.where('agent_id', '=', f.agentId);
    if (f.direction) q = q.where('direction', '=', f.direction);
    if (f.careUnit) q = q.where('care_unit', '=', f.careUnit);
    if (f.from !== undefined) q = q.where('started_at', '>=', f.from);
    if (f.to !== undefined) q = q.where('started_at', '<', f.to);
    if (f.numberIndex) {
      const x = f.numberIndex;
      q = q.where((eb) => eb.or(NUMBER_COLUMNS.map((c) => eb(c, '=', x))));
    }
    if (f.externalCallId !== undefined) q = q.where('external_call_id', '=', f.externalCallId);
    if (f.minDurationMs !== undefined) q = q.where('duration_ms', '>=', f.minDurationMs);
    if (f.maxDurationMs !== undefined) q = q.where('duration_ms', '<=', f.maxDurationMs);
    // Flags are a JSON list of names from a closed set; a quoted name cannot match another
    // (its underscores escaped, since LIKE reads them as wildcards).
    if (f.flag) q = q.where(sql<boolean>`flags like ${`%"${f.flag.replaceAll('_', '\\_')}"%`} escape '\\'`);
    return q;
  }

  return {
    async insert(row, trx) {
      await (trx ?? db).insertInto('recordings').values(row).execute();
    },
    get(id) {
      return db.selectFrom('recordings').selectAll().where('id', '=', id).where('erased_at', 'is', null).executeTakeFirst();
    },
    async list(f) {
      const q = filtered(f);
      if (q === null) return { items: [], next: null };
      let page = q.selectAll();
      if (f.cursor) {
        const c = decodeCursor(f.cursor);
        page = page.where((eb) => eb.or([
          eb('started_at', '<', c.startedAt),
          eb.and([eb('started_at', '=', c.startedAt), eb('id', '<', c.id)]),
        ]));
      }
      const rows = await page.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(f.limit + 1).execute();
      const items = rows.slice(0, f.limit);
      return { items, next: rows.length > f.limit ? encodeCursor(items[items.length - 1]!) : null };
    },
    async perDay(f) {
      const from = Math.floor(f.from / DAY);
      const to = Math.ceil(f.to / DAY);
      const scope = f.scope;
      const byDay = new Map<number, number>();
      const add = (rows: Array<{ day: number | string; calls: number | string | null }>) => {
        for (const r of rows) byDay.set(Number(r.day), (byDay.get(Number(r.day)) ?? 0) + Number(r.calls ?? 0));
      };
      // Care units (or all of them): from the daily counts.
      const units = scope.kind === 'all' ? null : scope.careUnits;
      if (units === null || units.length > 0) {
        let q = db.selectFrom('recordings_per_day').select(['day', (eb) => eb.fn.sum<number>('calls').as('calls')]).where('day', '>=', from).where('day', '<', to);
        if (units) q = q.where('care_unit', 'in', units);
        if (f.careUnit) q = q.where('care_unit', '=', f.careUnit);
        add(await q.groupBy('day').execute());
      }
      // Own calls and break-glass grants outside those units: counted from the calls themselves.
      if (scope.kind === 'some' && (scope.agentId !== null || scope.grantsOf !== null)) {
        let q = filtered({ scope: { ...scope, careUnits: [] }, now: f.now, limit: 0, careUnit: f.careUnit, from: from * DAY, to: to * DAY, includeErased: true });
        if (q !== null) {
          if (units && units.length > 0) q = q.where('care_unit', 'not in', units);
          const day = sql<number>`started_at / ${sql.lit(DAY)}`;
          add(await q.select([day.as('day'), (eb) => eb.fn.countAll<number>().as('calls')]).groupBy(day).execute());
        }
      }
      return [...byDay].sort((x, y) => x[0] - y[0]).map(([d, calls]) => ({ day: new Date(d * DAY).toISOString().slice(0, 10), calls }));
    },
    async count(f) {
      const q = filtered(f);
      if (q === null) return { value: 0, capped: false };
      const rows = await q.select('id').limit(COUNT_CAP + 1).execute();
      return { value: Math.min(rows.length, COUNT_CAP), capped: rows.length > COUNT_CAP };
    },
  };
}
