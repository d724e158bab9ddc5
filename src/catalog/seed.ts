// A realistic synthetic catalog (metadata only) for benchmarks and demos: calls to a national
// advice line over several years, with day and hour rhythms, 21 regions with their queues,
// agents who belong to a region, mostly inbound calls of a few minutes, and people who call
// again (and are called back). Rows are flagged `synthetic`; they have no audio and no sealed
// numbers, only the blind index of a made-up number (the caller's, or the callee's on a call
// back), so search by number works as on real rows.
//
// Loading is all or nothing (one transaction) and fast:
// - calls are made day by day in time order, so the time-ordered indexes (and the daily count)
//   grow at their end instead of at random places;
// - into an empty catalog, the secondary indexes and the daily-count trigger are set aside for
//   the load and rebuilt after it (a sort per index, far cheaper than millions of random
//   inserts), the daily counts coming from one GROUP BY; a catalog that already holds calls
//   keeps its indexes and trigger live;
// - SQLite binds rows to one prepared multi-row statement; PostgreSQL unpacks typed arrays
//   (unnest), one statement per batch, binary values as hex text that the server decodes.
// While an empty PostgreSQL catalog is loaded, other nodes' reads of recordings wait for it.
import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { BlindIndex } from './blind-index.ts';
import { sqliteDriverOf, type Catalog } from './db.ts';
import type { Database } from './schema.ts';
import { xorshift32 } from '../lib/xorshift.ts';

export const REGIONS = ['Stockholm', 'Uppsala', 'Sörmland', 'Östergötland', 'Jönköping', 'Kronoberg', 'Kalmar', 'Gotland', 'Blekinge', 'Skåne', 'Halland',
  'Västra Götaland', 'Värmland', 'Örebro', 'Västmanland', 'Dalarna', 'Gävleborg', 'Västernorrland', 'Jämtland Härjedalen', 'Västerbotten', 'Norrbotten'] as const;
const QUEUES = ['Sjukvårdsrådgivning', 'Barn', 'Tolk'] as const;

export interface SeedOptions {
  calls: number;
  /** The calls end now and start this many days back. */
  days?: number;
  /** Distinct people calling; each call picks one, so some call many times. */
  callers?: number;
  agents?: number;
  seed?: number;
  now?: number;
  batch?: number;
  onProgress?: (done: number) => void;
}

/** Hours of the day weighted as an advice line's traffic: quiet at night, busy mornings. */
const HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 4, 8, 10, 10, 9, 8, 7, 7, 7, 7, 7, 7, 7, 6, 5, 4, 3, 2];
const HOUR_CDF = HOUR_WEIGHTS.map((_, i) => HOUR_WEIGHTS.slice(0, i + 1).reduce((a, b) => a + b, 0) / HOUR_WEIGHTS.reduce((a, b) => a + b, 0));
/** Days of the week (Sunday first): weekends and Mondays are busier when clinics are closed. */
const WEEKDAY_WEIGHTS = [1.3, 1.15, 1, 0.95, 0.95, 1, 1.25];
const DAY = 86_400_000;

export const careUnitOf = (region: string, queue: string) => `1177 ${region} ${queue}`;

// The columns a load writes, in order, with their PostgreSQL array types; the other columns are
// constants for synthetic calls.
const COLUMNS = [['id', 'text'], ['external_call_id', 'text'], ['started_at', 'int8'], ['duration_ms', 'int8'], ['direction', 'text'],
  ['care_unit', 'text'], ['agent_id', 'text'], ['caller_index', 'bytea'], ['callee_index', 'bytea'], ['blob_key', 'text'],
  ['plaintext_size', 'int8'], ['created_at', 'int8']] as const;
type Value = string | number | Buffer | null;
const VARIABLE = COLUMNS.map(([name]) => name).join(', ');
const CONSTANT_COLUMNS = 'codec, container, sample_rate, channels, header, payload_size, flags';
// The unnested columns as loaded: hex text decoded to bytea where the column is binary.
const UNNEST_NAMES = COLUMNS.map((_, i) => `c${i}`).join(', ');
const UNNESTED = COLUMNS.map(([, type], i) => (type === 'bytea' ? `decode(c${i}, 'hex')` : `c${i}`)).join(', ');
const CONSTANT_VALUES = (emptyBinary: string) => `'pcmu', 'raw', 8000, 2, ${emptyBinary}, 0, '["synthetic"]'`;

/** One batch of calls in time order: one array per column of COLUMNS. */
interface Batch {
  n: number;
  columns: Value[][];
  /** Calls per UTC day and care unit of the days this batch completes. */
  daily: Array<[day: number, careUnit: string, calls: number]>;
}

const emptyBatch = (): Batch => ({ n: 0, columns: COLUMNS.map(() => []), daily: [] });

export async function seedCatalog(db: Catalog, blindIndex: BlindIndex, o: SeedOptions): Promise<{ calls: number; seconds: number }> {
  const t0 = performance.now();
  const days = o.days ?? 6 * 365;
  const callers = o.callers ?? Math.max(1000, Math.round(o.calls / 3));
  const agents = o.agents ?? 2000;
  const now = o.now ?? Date.now();
  const batchSize = o.batch ?? 20_000;
  const rand = xorshift32(o.seed ?? 1177);
  const uniform = () => rand() / 0x1_0000_0000;
  const start = now - days * DAY;
  const agentName = Array.from({ length: agents }, (_, i) => `agent-${String(i).padStart(4, '0')}`);
  // An agent works in one region; the region's three queues are care units.
  const agentUnits = Array.from({ length: agents }, (_, i) => QUEUES.map((q) => careUnitOf(REGIONS[i % REGIONS.length]!, q)));
  // Callers' blind indexes, made on first use (a caller picked by a skewed draw: some call often).
  const callerIndex: Buffer[] = new Array(callers);
  const callerOf = (k: number) => (callerIndex[k] ??= blindIndex.phone(`+4670${String(1_000_000 + k * 7).padStart(7, '0')}`));
  const prefix = randomBytes(8).toString('hex');

  // Calls per day: the weekday's weight, spread so that the days sum to exactly o.calls.
  const firstWeekday = new Date(start).getUTCDay();
  const weights = Array.from({ length: days }, (_, d) => WEEKDAY_WEIGHTS[(firstWeekday + d) % 7]! * (0.85 + 0.3 * uniform()));
  const total = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (o.calls * w) / total);
  const perDay = exact.map(Math.floor);
  // What rounding down left over goes to the days it was taken from most (largest remainder),
  // so that fewer calls than days still spread over the whole range.
  const left = o.calls - perDay.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, d) => [x - perDay[d]!, d] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; k < left; k++) perDay[byRemainder[k]![1]]!++;

  // Yields batches of calls in time order: day by day, each day's calls sorted by start.
  function* batches(): Generator<Batch> {
    let b = emptyBatch();
    let i = 0;
    // Calls per care unit of the UTC day being made (calls come in time order).
    let day = Math.floor(start / DAY);
    let units = new Map<string, number>();
    const dayDone = () => {
      for (const [unit, calls] of units) b.daily.push([day, unit, calls]);
      units = new Map();
    };
    for (let d = 0; d < days; d++) {
      const starts = new Float64Array(perDay[d]!);
      for (let k = 0; k < starts.length; k++) {
        const u = uniform();
        let hour = 0;
        while (HOUR_CDF[hour]! < u) hour++;
        starts[k] = start + d * DAY + hour * 3_600_000 + Math.floor(uniform() * 3_600_000);
      }
      starts.sort();
      for (const startedAt of starts) {
        if (startedAt >= (day + 1) * DAY) {
          dayDone();
          day = Math.floor(startedAt / DAY);
        }
        const agent = Math.floor(uniform() * agents);
        const q = uniform() < 0.8 ? 0 : uniform() < 0.7 ? 1 : 2;
        const careUnit = agentUnits[agent]![q]!;
        units.set(careUnit, (units.get(careUnit) ?? 0) + 1);
        // Log-normal around four minutes, at most two hours.
        const normal = Math.sqrt(-2 * Math.log(uniform() || 1e-12)) * Math.cos(2 * Math.PI * uniform());
        const durationMs = Math.min(7_200_000, Math.max(5_000, Math.round(240_000 * Math.exp(0.8 * normal))));
        const hex = i.toString(16).padStart(16, '0');
        const inbound = uniform() < 0.92;
        // The person's number: the caller of an inbound call, the callee of a call back.
        const person = callerOf(Math.floor(callers * uniform() ** 2));
        const row: Value[] = [prefix + hex, `seed-${i}`, startedAt, durationMs, inbound ? 'inbound' : 'outbound', careUnit, agentName[agent]!,
          inbound ? person : null, inbound ? null : person, `${prefix}f${hex}`, durationMs * 16, startedAt + durationMs];
        for (let c = 0; c < row.length; c++) b.columns[c]!.push(row[c]!);
        i++;
        if (++b.n === batchSize) {
          yield b;
          b = emptyBatch();
        }
      }
    }
    dayDone();
    if (b.n > 0 || b.daily.length > 0) yield b;
  }

  const calls = sqliteDriverOf(db) ? await loadSqlite(db, batches(), o.onProgress) : await loadPostgres(db, batches(), o.onProgress);
  return { calls, seconds: (performance.now() - t0) / 1000 };
}

const ROWS_PER_STATEMENT = 64;
// Daily counts of a bulk load (its trigger is set aside), added to those of erased calls.
const ADD_DAILY = 'on conflict (day, care_unit) do update set calls = recordings_per_day.calls + excluded.calls';

/** Sets the journal mode if SQLite can (it needs the only connection); whether it did. */
function tryJournalMode(driver: NonNullable<ReturnType<typeof sqliteDriverOf>>, mode: 'delete' | 'wal'): boolean {
  try {
    return driver.pragma(`journal_mode = ${mode}`, { simple: true }) === mode;
  } catch {
    return false;
  }
}

async function loadSqlite(db: Catalog, batches: Generator<Batch>, onProgress?: (done: number) => void): Promise<number> {
  const driver = sqliteDriverOf(db)!;
  const tuple = `(${COLUMNS.map(() => '?').join(', ')}, ${CONSTANT_VALUES("x''")})`;
  // One statement per number of rows (a full one, and the rest of a batch), prepared once.
  const statements = new Map<number, ReturnType<typeof driver.prepare>>();
  const statement = (rows: number) => statements.get(rows)
    ?? statements.set(rows, driver.prepare(`insert into recordings (${VARIABLE}, ${CONSTANT_COLUMNS}) values ${new Array(rows).fill(tuple).join(', ')}`)).get(rows)!;
  // Held for the whole load: Kysely's queries on this catalog wait for it.
  return db.connection().execute(async () => {
    const cacheBefore = driver.pragma('cache_size', { simple: true }) as number;
    // A large load keeps its index pages in memory (1 GiB of cache), then returns to the usual size.
    driver.pragma('cache_size = -1048576');
    // A rollback journal for the load: pages are written once, into the catalog, instead of into
    // the WAL and again at its checkpoint (a fifth less time for a million calls here). Just as
    // safe with synchronous=FULL. It needs the catalog to itself: with another connection open
    // (a running server) SQLite keeps WAL and the load goes on in it.
    const walBefore = driver.pragma('journal_mode', { simple: true }) === 'wal';
    const rollback = walBefore && tryJournalMode(driver, 'delete');
    driver.exec('begin immediate');
    try {
      const empty = driver.prepare('select 1 from recordings limit 1').get() === undefined;
      const setAside = empty
        ? driver.prepare("select type, name, sql from sqlite_master where tbl_name = 'recordings' and (type = 'index' and sql is not null or type = 'trigger' and name = 'recordings_count_day')").all() as Array<{ type: string; name: string; sql: string }>
        : [];
      for (const x of setAside) driver.exec(`drop ${x.type} ${x.name}`);
      const daily = driver.prepare(`insert into recordings_per_day (day, care_unit, calls) values (?, ?, ?) ${ADD_DAILY}`);
      let done = 0;
      // A statement's values, row after row, copied straight from the batch's columns (one array
      // reused for every full statement).
      const width = COLUMNS.length;
      const full = new Array<Value>(ROWS_PER_STATEMENT * width);
      for (const b of batches) {
        for (let k = 0; k < b.n; k += ROWS_PER_STATEMENT) {
          const n = Math.min(ROWS_PER_STATEMENT, b.n - k);
          const values = n === ROWS_PER_STATEMENT ? full : new Array<Value>(n * width);
          for (let c = 0; c < width; c++) {
            const column = b.columns[c]!;
            for (let r = 0; r < n; r++) values[r * width + c] = column[k + r]!;
          }
          statement(n).run(values);
        }
        if (empty) for (const d of b.daily) daily.run(d);
        done += b.n;
        onProgress?.(done);
        // Let a progress line be written before the next batch.
        await new Promise((r) => setImmediate(r));
      }
      for (const x of setAside) driver.exec(x.sql);
      driver.exec('commit');
      return done;
    } catch (e) {
      if (driver.inTransaction) driver.exec('rollback');
      throw e;
    } finally {
      driver.pragma(`cache_size = ${Math.trunc(cacheBefore)}`);
      // Each open sets WAL again as well (db.ts), should this be refused.
      if (rollback) tryJournalMode(driver, 'wal');
    }
  });
}

async function loadPostgres(db: Kysely<Database>, batches: Generator<Batch>, onProgress?: (done: number) => void): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const empty = (await trx.selectFrom('recordings').select('id').limit(1).executeTakeFirst()) === undefined;
    const setAside = empty ? await setAsidePostgres(trx) : [];
    let done = 0;
    // The next batch is made while the server files the last one: two cores, both busy.
    let inFlight: Promise<unknown> = Promise.resolve();
    for (const b of batches) {
      // Binary values travel as hex text, decoded by the server.
      const arrays = b.columns.map((c, i) => {
        const binary = COLUMNS[i]![1] === 'bytea';
        const values = binary ? c.map((v) => (v === null ? null : (v as Buffer).toString('hex'))) : (c as Array<string | number | null>);
        return sql`${arrayLiteral(values)}::${sql.raw(binary ? 'text' : COLUMNS[i]![1])}[]`;
      });
      await inFlight;
      inFlight = sql`insert into recordings (${sql.raw(VARIABLE)}, ${sql.raw(CONSTANT_COLUMNS)})
        select ${sql.raw(UNNESTED)}, ${sql.raw(CONSTANT_VALUES("''::bytea"))} from unnest(${sql.join(arrays)}) as u(${sql.raw(UNNEST_NAMES)})`.execute(trx);
      if (empty && b.daily.length > 0) {
        const daily = [b.daily.map((d) => d[0]), b.daily.map((d) => d[1]), b.daily.map((d) => d[2])].map(arrayLiteral);
        inFlight = inFlight.then(() => sql`insert into recordings_per_day (day, care_unit, calls)
          select * from unnest(${daily[0]}::int4[], ${daily[1]}::text[], ${daily[2]}::int4[]) ${sql.raw(ADD_DAILY)}`.execute(trx));
      }
      done += b.n;
      inFlight = inFlight.then(() => onProgress?.(done));
    }
    await inFlight;
    if (empty) {
      // Index builds sort in memory and in parallel where the server allows.
      await sql`set local maintenance_work_mem = '1GB'`.execute(trx);
      for (const statement of setAside) await sql.raw(statement).execute(trx);
    }
    return done;
  });
}

/**
 * A PostgreSQL array literal of numbers, strings or nulls, made here (the driver's own
 * conversion of a large array costs more than the insert). Strings are quoted, with `"` and `\`
 * escaped. Where no value holds a quote, a backslash or a control character, JSON's text of the
 * array is that literal but for its brackets (strings quoted alike, null and integers bare), and
 * the engine's JSON.stringify makes it several times faster than quoting value by value.
 */
export function arrayLiteral(values: ReadonlyArray<string | number | null>): string {
  const json = JSON.stringify(values);
  if (!json.includes('\\') && values.every((v) => typeof v !== 'number' || Number.isFinite(v))) return `{${json.slice(1, -1)}}`;
  return `{${values.map((v) => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `"${v.replace(/["\\]/g, '\\$&')}"`)).join(',')}}`;
}

/**
 * Drops the secondary indexes of recordings (not those of its primary key and unique
 * constraints) and its daily-count trigger; returns the statements that make them again.
 */
async function setAsidePostgres(trx: Transaction<Database>): Promise<string[]> {
  const indexes = (await sql<{ name: string; def: string }>`select i.relname as name, pg_get_indexdef(i.oid) as def
    from pg_index x join pg_class i on i.oid = x.indexrelid
    where x.indrelid = 'recordings'::regclass and not exists (select 1 from pg_constraint c where c.conindid = i.oid)`.execute(trx)).rows;
  const triggers = (await sql<{ name: string; def: string }>`select tgname as name, pg_get_triggerdef(oid) as def
    from pg_trigger where tgrelid = 'recordings'::regclass and tgname = 'recordings_count_day'`.execute(trx)).rows;
  for (const i of indexes) await sql`drop index ${sql.id(i.name)}`.execute(trx);
  for (const t of triggers) await sql`drop trigger ${sql.id(t.name)} on recordings`.execute(trx);
  return [...indexes, ...triggers].map((x) => x.def);
}
