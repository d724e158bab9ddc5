// A realistic synthetic catalog (metadata only) for benchmarks and demos: calls to a national
// advice line over several years, with day and hour rhythms, 21 regions with their queues,
// agents who belong to a region, mostly inbound calls of a few minutes, and callers who call
// again. Rows are flagged `synthetic`; they have no audio and no sealed numbers, only the
// blind index of a made-up caller number, so search by caller works as on real rows.
//
// Loading goes through one JSON parameter per batch, unpacked by the database itself
// (SQLite json_each, PostgreSQL json_populate_recordset): no per-row statements, and the
// same code on both catalogs.
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { BlindIndex } from './blind-index.ts';
import type { Catalog } from './db.ts';
import { dialectOf } from './dialect.ts';
import { xorshift32 } from '../lib/xorshift.ts';
import type { NewRecording } from './schema.ts';

const EMPTY = new Uint8Array(0);

export const REGIONS = ['Stockholm', 'Uppsala', 'Sörmland', 'Östergötland', 'Jönköping', 'Kronoberg', 'Kalmar', 'Gotland', 'Blekinge', 'Skåne', 'Halland',
  'Västra Götaland', 'Värmland', 'Örebro', 'Västmanland', 'Dalarna', 'Gävleborg', 'Västernorrland', 'Jämtland Härjedalen', 'Västerbotten', 'Norrbotten'] as const;
const QUEUES = ['Sjukvårdsrådgivning', 'Barn', 'Tolk'] as const;

export interface SeedOptions {
  calls: number;
  /** The calls end now and start this many days back. */
  days?: number;
  /** Distinct callers; each call picks one, so some call many times. */
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

export const careUnitOf = (region: string, queue: string) => `1177 ${region} ${queue}`;

export async function seedCatalog(db: Catalog, blindIndex: BlindIndex, o: SeedOptions): Promise<{ calls: number; seconds: number }> {
  const t0 = performance.now();
  const days = o.days ?? 6 * 365;
  const callers = o.callers ?? Math.max(1000, Math.round(o.calls / 3));
  const agents = o.agents ?? 2000;
  const now = o.now ?? Date.now();
  const batchSize = o.batch ?? 20_000;
  const rand = xorshift32(o.seed ?? 1177);
  const uniform = () => rand() / 0x1_0000_0000;
  const start = now - days * 86_400_000;
  const postgres = dialectOf(db as unknown as Kysely<unknown>) === 'postgres';
  // The caller pool's blind indexes, computed once: a call picks one (skewed: some call often).
  const callerHex: string[] = [];
  for (let i = 0; i < callers; i++) callerHex.push(blindIndex.phone(`+4670${String(1_000_000 + i * 7).padStart(7, '0')}`).toString('hex'));
  const agentRegion = Array.from({ length: agents }, (_, i) => REGIONS[i % REGIONS.length]!);
  const prefix = randomBytes(8).toString('hex');

  // SQLite: a large load keeps its index pages in memory (1 GiB of cache for the load; the
  // random caller index thrashes a small cache), then returns to the usual size.
  const cacheBefore = postgres ? null : (await sql<{ cache_size: number }>`pragma cache_size`.execute(db)).rows[0]?.cache_size ?? null;
  if (cacheBefore !== null) await sql`pragma cache_size = -1048576`.execute(db);
  try {
    return { calls: await load(), seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (cacheBefore !== null) await sql.raw(`pragma cache_size = ${Math.trunc(Number(cacheBefore))}`).execute(db);
  }

  async function load(): Promise<number> {
    let done = 0;
    while (done < o.calls) {
    const n = Math.min(batchSize, o.calls - done);
    const rows = new Array<Record<string, unknown>>(n);
    for (let k = 0; k < n; k++) {
      const i = done + k;
      const day = Math.floor(uniform() * days);
      const u = uniform();
      let hour = 0;
      while (HOUR_CDF[hour]! < u) hour++;
      const startedAt = start + day * 86_400_000 + hour * 3_600_000 + Math.floor(uniform() * 3_600_000);
      const agent = Math.floor(uniform() * agents);
      const region = agentRegion[agent]!;
      const queue = QUEUES[uniform() < 0.8 ? 0 : uniform() < 0.7 ? 1 : 2]!;
      // Log-normal around four minutes, at most two hours.
      const normal = Math.sqrt(-2 * Math.log(uniform() || 1e-12)) * Math.cos(2 * Math.PI * uniform());
      const durationMs = Math.min(7_200_000, Math.max(5_000, Math.round(240_000 * Math.exp(0.8 * normal))));
      const caller = callerHex[Math.floor(callers * uniform() ** 2)]!;
      rows[k] = {
        id: `${prefix}${i.toString(16).padStart(16, '0')}`, external_call_id: `seed-${i}`, started_at: startedAt, duration_ms: durationMs,
        direction: uniform() < 0.92 ? 'inbound' : 'outbound', care_unit: careUnitOf(region, queue), agent_id: `agent-${String(agent).padStart(4, '0')}`,
        codec: 'pcmu', container: 'raw', sample_rate: 8000, channels: 2, caller_index: caller, blob_key: `${prefix}${(i + 0x8000_0000_0000).toString(16).padStart(16, '0')}`,
        payload_size: 0, plaintext_size: Math.round(durationMs * 16), flags: '["synthetic"]', created_at: startedAt + durationMs,
      };
    }
    const json = JSON.stringify(rows);
    if (postgres) {
      await sql`insert into recordings (id, external_call_id, started_at, duration_ms, direction, care_unit, agent_id, codec, container, sample_rate, channels,
          caller_index, header, blob_key, payload_size, plaintext_size, flags, created_at)
        select r.id, r.external_call_id, r.started_at, r.duration_ms, r.direction, r.care_unit, r.agent_id, r.codec, r.container, r.sample_rate, r.channels,
          decode(r.caller_index, 'hex'), ''::bytea, r.blob_key, r.payload_size, r.plaintext_size, r.flags, r.created_at
        from json_to_recordset(${json}::json) as r(id text, external_call_id text, started_at bigint, duration_ms bigint, direction text, care_unit text,
          agent_id text, codec text, container text, sample_rate integer, channels integer, caller_index text, blob_key text, payload_size bigint,
          plaintext_size bigint, flags text, created_at bigint)`.execute(db);
    } else {
      // SQLite: multi-row inserts of bound values (JSON unpacking re-parses each row per column).
      const typed = rows.map((r) => ({ ...r, caller_index: Buffer.from(r.caller_index as string, 'hex'), header: EMPTY })) as unknown as NewRecording[];
      await db.transaction().execute(async (trx) => {
        for (let k = 0; k < typed.length; k += 1000) await trx.insertInto('recordings').values(typed.slice(k, k + 1000)).execute();
      });
    }
    done += n;
    o.onProgress?.(done);
    }
    return done;
  }
}
