// The catalog conformance suite: the same checks on both dialects, SQLite (a temporary file)
// and PostgreSQL (a fresh database on CALLVAULT_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432/postgres), whichever catalog the rest of the suite runs on.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { createTestDatabase, dropTestDatabase } from '../../test/helpers/catalog.ts';
import { entryLeafHash } from '../audit/entry.ts';
import { createAuditLog } from '../audit/log.ts';
import { migrate, openCatalog, sqliteDriverOf, type Catalog } from './db.ts';
import { dialectOf, type CatalogDialect } from './dialect.ts';
import { createRecordingRepo, type ListFilter } from './recordings.ts';
import type { NewRecording } from './schema.ts';
import { CatalogInputError } from './text-guard.ts';

const TABLES = ['api_keys', 'archive_binding', 'audit_alerts', 'audit_checkpoints', 'audit_events', 'auth_challenges', 'auth_throttle',
  'break_glass', 'enrollments', 'ingest_journal', 'ingest_nodes', 'passkeys', 'pending_deletions', 'recordings', 'recordings_per_day', 'recovery_codes', 'sessions', 'uploads', 'users'];
const MIGRATIONS = ['001-foundation', '002-live-ingest', '003-audit-merkle', '004-audit-alerts', '005-identity', '006-archive-binding', '007-daily-counts', '008-ingest-nodes', '009-patient-index', '010-partial-number-indexes', '011-upload-length', '012-audit-patient-index', '013-erasure-reach'];

interface Opened {
  db: Catalog;
  reopen(): Promise<Catalog>;
  cleanup(): Promise<void>;
}

const OPEN: Record<CatalogDialect, () => Promise<Opened>> = {
  async sqlite() {
    const dir = await mkdtemp(join(tmpdir(), 'callvault-catalog-'));
    const file = join(dir, 'catalog.sqlite');
    return { db: await openCatalog({ file }), reopen: () => openCatalog({ file }), cleanup: () => rm(dir, { recursive: true, force: true }) };
  },
  async postgres() {
    const url = await createTestDatabase();
    return { db: await openCatalog({ url }), reopen: () => openCatalog({ url }), cleanup: () => dropTestDatabase(url) };
  },
};

let n = 0;
const id = () => (++n).toString(16).padStart(32, '0');

function recording(over: Partial<NewRecording> = {}): NewRecording {
  return {
    id: id(), external_call_id: null, started_at: Date.UTC(2026, 10, 25, 10), duration_ms: 1000, direction: 'inbound', care_unit: 'unit-a',
    agent_id: null, codec: 'pcmu', sample_rate: 8000, channels: 1, caller_sealed: null, callee_sealed: null, caller_index: null,
    callee_index: null, header: randomBytes(200), blob_key: randomBytes(16).toString('hex'), payload_size: 100, plaintext_size: 80,
    flags: '[]', ingest_key_id: null, created_at: Date.now(), ...over,
  };
}

const event = (action = 'recording.played') => ({
  at: Date.now(), actor_type: 'system' as const, actor_id: null, action, object_type: null, object_id: null, care_unit: null,
  patient_pseudonym: null, outcome: 'success' as const, request_id: null, source: null, details: null, leaf_hash: randomBytes(32),
});

const everything: ListFilter = { scope: { kind: 'all' }, now: Date.now(), limit: 1000 };

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`the catalog on ${dialect}`, () => {
    let c: Opened;
    let db: Catalog;
    before(async () => {
      c = await OPEN[dialect]();
      db = c.db;
    });
    after(async () => {
      await db?.destroy();
      await c?.cleanup();
    });

    it('migrations apply from empty, every table is there, and applying them again changes nothing', async () => {
      assert.equal(dialectOf(db as Kysely<unknown>), dialect);
      const tables = (await db.introspection.getTables()).map((t) => t.name).filter((t) => !t.startsWith('kysely_')).sort();
      assert.deepEqual(tables, TABLES);
      const applied = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
      assert.deepEqual(applied.rows.map((r) => r.name), MIGRATIONS);
      await migrate(db);
      const again = await c.reopen();
      await again.destroy();
      assert.equal((await sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(db)).rows.length, MIGRATIONS.length);
    });

    it('the audit log is append-only: UPDATE and DELETE (and TRUNCATE) are refused by the catalog itself', async () => {
      const audit = createAuditLog(db);
      await audit.record({ action: 'recording.played', actor: { type: 'system', id: null }, outcome: 'success' });
      const refusals: Array<[string, () => Promise<unknown>]> = [
        ['update', () => db.updateTable('audit_events').set({ action: 'recording.viewed' }).execute()],
        ['delete', () => db.deleteFrom('audit_events').execute()],
        ['update checkpoint', async () => {
          await db.insertInto('audit_checkpoints').values({ size: 1, root: randomBytes(32), note: 'n', created_at: 1 }).execute();
          return db.updateTable('audit_checkpoints').set({ note: 'forged' }).execute();
        }],
        ['delete checkpoint', () => db.deleteFrom('audit_checkpoints').execute()],
        ['delete alert', async () => {
          await db.insertInto('audit_alerts').values({ at: 1, rule: 'r', actor_type: 'system', actor_id: null, summary: 's', details: null }).execute();
          return db.deleteFrom('audit_alerts').execute();
        }],
      ];
      if (dialect === 'postgres') refusals.push(['truncate', () => sql`TRUNCATE audit_events`.execute(db)]);
      for (const [what, attempt] of refusals) {
        await assert.rejects(attempt(), /append-only|are kept/, what);
      }
      const rows = await db.selectFrom('audit_events').select(['action']).execute();
      assert.deepEqual(rows.map((r) => r.action), ['recording.played']);
      assert.equal((await db.selectFrom('audit_checkpoints').select('note').executeTakeFirstOrThrow()).note, 'n');
    });

    it('audit sequence numbers: 1, 2, 3... in commit order, no gap after a rollback, none under concurrent writers', async () => {
      const seqs = async () => (await db.selectFrom('audit_events').select('seq').orderBy('seq').execute()).map((r) => r.seq);
      const start = (await seqs()).length;
      await assert.rejects(db.transaction().execute(async (trx) => {
        await trx.insertInto('audit_events').values(event()).execute();
        throw new Error('rolled back');
      }), /rolled back/);
      // Writers racing each other (on PostgreSQL, separate connections), some of them rolling back.
      await Promise.all(Array.from({ length: 12 }, (_, i) => db.transaction().execute(async (trx) => {
        await trx.insertInto('audit_events').values([event(), event()]).execute();
        if (i % 4 === 3) throw new Error('rolled back');
      }).catch(() => undefined)));
      await db.insertInto('audit_events').values(event()).execute();
      const all = await seqs();
      assert.equal(all.length, start + 9 * 2 + 1);
      assert.deepEqual(all, all.map((_, i) => i + 1), 'gapless from 1');
      assert.ok(all.every((s) => typeof s === 'number'));
    });

    it('group-committed audit events: each row as written hashes to its leaf; one the catalog cannot hold is refused alone', async () => {
      const audit = createAuditLog(db);
      const before = (await db.selectFrom('audit_events').select('seq').orderBy('seq', 'desc').executeTakeFirst())?.seq ?? 0;
      const recorded = await Promise.allSettled([
        audit.record({ action: 'recording.played', actor: { type: 'user', id: 'u1', role: 'agent' }, object: { type: 'recording', id: id() }, careUnit: 'Vårdcentral Norr', outcome: 'success', requestId: 'r1', source: '::1', details: { start: 0, end: 99 } }),
        audit.record({ action: 'recordings.listed', actor: { type: 'user', id: 'u2' }, careUnit: 'unit\0b', outcome: 'success' }),
        audit.record({ action: 'auth.login', actor: { type: 'user', id: null }, outcome: 'denied', patientPseudonym: 'ab'.repeat(16) }),
      ]);
      assert.deepEqual(recorded.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'the batch-mates of a refused event are written');
      assert.ok(recorded[1]!.status === 'rejected' && recorded[1]!.reason instanceof CatalogInputError);
      const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', before).orderBy('seq').execute();
      assert.deepEqual(rows.map((r) => r.action), ['recording.played', 'auth.login']);
      for (const r of rows) assert.ok(entryLeafHash(r).equals(Buffer.from(r.leaf_hash!)), `entry ${r.seq} reads back as it was hashed`);
      assert.equal(rows[0]!.care_unit, 'Vårdcentral Norr');
      assert.equal(rows[1]!.actor_id, null);
    });

    it('catalog transactions are one writer at a time: concurrent read-then-write loses no update', async () => {
      await db.insertInto('auth_throttle').values({ key: 'counter', failures: 0, window_start: 0, locked_until: null }).execute();
      await Promise.all(Array.from({ length: 10 }, () => db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('auth_throttle').select('failures').where('key', '=', 'counter').executeTakeFirstOrThrow();
        await new Promise((r) => setTimeout(r, 2));
        await trx.updateTable('auth_throttle').set({ failures: row.failures + 1 }).where('key', '=', 'counter').execute();
      })));
      assert.equal((await db.selectFrom('auth_throttle').select('failures').where('key', '=', 'counter').executeTakeFirstOrThrow()).failures, 10);
    });

    it('binary values round-trip byte for byte (blob / bytea), as Uint8Array', async () => {
      const header = Buffer.concat([Buffer.from([0, 0, 255, 0x5c, 0x27, 0x22]), randomBytes(70_000), Buffer.from([0])]);
      const index = randomBytes(32);
      const r = recording({ header, caller_index: index, caller_sealed: new Uint8Array(0) });
      await db.insertInto('recordings').values(r).execute();
      const back = await db.selectFrom('recordings').selectAll().where('id', '=', r.id).executeTakeFirstOrThrow();
      assert.ok(back.header instanceof Uint8Array);
      assert.ok(Buffer.from(back.header).equals(header));
      assert.ok(Buffer.from(back.caller_index!).equals(index));
      assert.equal(back.caller_sealed?.length, 0);
      assert.equal(back.callee_sealed, null);
      // Found by a binary value (the blind-index lookup).
      const found = await db.selectFrom('recordings').select('id').where('caller_index', '=', index).execute();
      assert.deepEqual(found.map((f) => f.id), [r.id]);
    });

    it('bigint values (ms timestamps, sizes, counts, sums) come back as JS numbers', async () => {
      const far = Date.UTC(2200, 0, 1, 0, 0, 0, 123); // past 2^32 seconds, and ms past 2^40
      const big = 5 * 1024 ** 4; // 5 TiB: past 2^32
      const r = recording({ started_at: far, created_at: far + 1, payload_size: big, plaintext_size: Number.MAX_SAFE_INTEGER, duration_ms: 0 });
      await db.insertInto('recordings').values(r).execute();
      const back = await db.selectFrom('recordings').selectAll().where('id', '=', r.id).executeTakeFirstOrThrow();
      assert.equal(back.started_at, far);
      assert.equal(back.created_at, far + 1);
      assert.equal(back.payload_size, big);
      assert.equal(back.plaintext_size, Number.MAX_SAFE_INTEGER);
      assert.equal(typeof back.duration_ms, 'number');
      assert.equal(typeof back.sample_rate, 'number');
      assert.equal(back.legal_hold, 0);
      const agg = await db.selectFrom('recordings').select((eb) => [
        eb.fn.countAll<number>().as('n'), eb.fn.max('started_at').as('latest'), eb.fn.sum<number>('payload_size').as('bytes'),
      ]).where('id', '=', r.id).executeTakeFirstOrThrow();
      assert.deepEqual(agg, { n: 1, latest: far, bytes: big });
      const range = await db.selectFrom('recordings').select('id').where('started_at', '>=', far).where('started_at', '<', far + 1).execute();
      assert.deepEqual(range.map((x) => x.id), [r.id]);
    });

    it('text with a NUL character is refused the same way on both (PostgreSQL cannot hold it), as a 400', async () => {
      const attempts: Array<() => Promise<unknown>> = [
        () => db.selectFrom('users').selectAll().where('username', '=', 'a\0b').execute(),
        () => db.selectFrom('users').selectAll().where('username', 'in', ['ok', 'a\0b']).execute(),
        () => db.insertInto('auth_challenges').values({ id_hash: 'x\0', purpose: 'p', user_id: null, data: '{}', expires_at: 1 }).execute(),
        () => db.updateTable('auth_throttle').set({ key: '\0' }).where('key', '=', 'none').execute(),
        () => sql`SELECT ${'\0'} AS v`.execute(db),
      ];
      for (const attempt of attempts) {
        await assert.rejects(attempt(), (e: Error & { statusCode?: number }) => e instanceof CatalogInputError && e.statusCode === 400 && /NUL/.test(e.message));
      }
      assert.equal((await db.selectFrom('auth_challenges').select('id_hash').execute()).length, 0);
      // Binary values may hold any byte, and text any other character.
      const text = 'Å\u0001\t"\'\\%_😀';
      await db.insertInto('auth_challenges').values({ id_hash: text, purpose: 'p', user_id: null, data: text, expires_at: 1 }).execute();
      assert.equal((await db.selectFrom('auth_challenges').select('data').where('id_hash', '=', text).executeTakeFirstOrThrow()).data, text);
      await db.deleteFrom('auth_challenges').execute();
    });

    it('foreign keys are enforced', async () => {
      await assert.rejects(db.insertInto('sessions').values({ id_hash: 'h', user_id: 'nobody', csrf_token: 'c', created_at: 1, last_seen_at: 1, expires_at: 2, step_up_at: null }).execute());
    });

    describe('recordings: keyset paging and the list filter', () => {
      const unit = `paging-${dialect}`;
      const t0 = Date.UTC(2026, 0, 1);
      const ids: Record<string, string> = {};
      let repo: ReturnType<typeof createRecordingRepo>;
      const inUnit: ListFilter = { ...everything, careUnit: unit };
      const idsOf = (page: { items: Array<{ id: string }> }) => page.items.map((i) => i.id);

      before(async () => {
        repo = createRecordingRepo(db);
        // Ties on started_at: the id breaks them, the same way on both.
        const rows: Array<[string, Partial<NewRecording>]> = [
          ['a', { started_at: t0 }], ['b', { started_at: t0 + 1000 }], ['c', { started_at: t0 + 1000 }], ['d', { started_at: t0 + 1000 }],
          ['e', { started_at: t0 + 2000, flags: '["truncated_by_crash"]', direction: 'outbound', duration_ms: 60_000, callee_index: Buffer.alloc(32, 7) }],
          ['f', { started_at: t0 + 3000, flags: '["truncatedXbyXcrash"]', external_call_id: 'pbx-call-4711' }],
          ['g', { started_at: t0 + 4000, flags: '["abandoned","truncated_by_crash"]', agent_id: 'agent-7' }],
          ['h', { started_at: t0 + 5000, flags: '["truncated_by_crash_and_more"]', caller_index: Buffer.alloc(32, 7) }],
          ['i', { started_at: t0 + 6000, erased_at: t0 + 7000 }],
        ];
        for (const [name, over] of rows) {
          const r = recording({ care_unit: unit, ...over });
          ids[name] = r.id;
          await db.insertInto('recordings').values(r).execute();
        }
      });

      it('pages newest first, ties by id descending, with no row twice or missing', async () => {
        const expected = ['h', 'g', 'f', 'e', 'd', 'c', 'b', 'a'].map((k) => ids[k]!);
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await repo.list({ ...inUnit, limit: 3, cursor });
          seen.push(...idsOf(page));
          cursor = page.next ?? undefined;
          pages++;
        } while (cursor);
        assert.deepEqual(seen, expected);
        assert.equal(pages, 3);
        assert.deepEqual(await repo.count(inUnit), { value: 8, capped: false });
      });

      it('pages through calls from before 1970 too (their cursor holds a negative time)', async () => {
        const old = `${unit}-1960s`;
        const made: string[] = [];
        for (const t of [Date.UTC(1965, 0, 1), Date.UTC(1965, 0, 2), Date.UTC(1965, 0, 3)]) {
          const r = recording({ care_unit: old, started_at: t });
          made.push(r.id);
          await db.insertInto('recordings').values(r).execute();
        }
        const first = await repo.list({ ...everything, careUnit: old, limit: 2 });
        assert.ok(first.next);
        const rest = await repo.list({ ...everything, careUnit: old, limit: 2, cursor: first.next });
        assert.deepEqual([...idsOf(first), ...idsOf(rest)], [...made].reverse());
      });

      it('the flag filter matches the quoted name only (LIKE with its underscores escaped)', async () => {
        const flagged = await repo.list({ ...inUnit, flag: 'truncated_by_crash' });
        assert.deepEqual(idsOf(flagged).sort(), [ids.e, ids.g].sort());
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, flag: 'abandoned' })), [ids.g]);
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, flag: 'journal_damaged' })), []);
        assert.deepEqual(await repo.count({ ...inUnit, flag: 'truncated_by_crash' }), { value: 2, capped: false });
      });

      it('a number is looked up in the number indexes, which hold only the calls that have a number', async () => {
        const plan = dialect === 'sqlite'
          ? (await sql<{ detail: string }>`explain query plan select id from recordings where caller_index = ${Buffer.alloc(16)} or callee_index = ${Buffer.alloc(16)}`.execute(db)).rows.map((r) => r.detail).join('\n')
          : await db.transaction().execute(async (trx) => {
            // A handful of rows would be scanned whole; the question is whether the indexes can serve.
            await sql`set local enable_seqscan = off`.execute(trx);
            return (await sql<{ 'QUERY PLAN': string }>`explain select id from recordings where caller_index = ${Buffer.alloc(16)} or callee_index = ${Buffer.alloc(16)}`.execute(trx)).rows.map((r) => r['QUERY PLAN']).join('\n');
          });
        assert.match(plan, /recordings_caller/);
        assert.match(plan, /recordings_callee/);
        const defs = dialect === 'sqlite'
          ? (await sql<{ def: string }>`select sql as def from sqlite_master where name in ('recordings_caller', 'recordings_callee', 'recordings_patient')`.execute(db)).rows
          : (await sql<{ def: string }>`select indexdef as def from pg_indexes where indexname in ('recordings_caller', 'recordings_callee', 'recordings_patient')`.execute(db)).rows;
        assert.equal(defs.length, 3);
        for (const d of defs) assert.match(d.def, /where .* is not null/i);
      });

      it('every other filter: direction, duration, agent, caller index, external call id, time range, scope', async () => {
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, externalCallId: 'pbx-call-4711' })), [ids.f]);
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, externalCallId: 'pbx-call-471' })), [], 'an exact match, not a prefix');
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, direction: 'outbound' })), [ids.e]);
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, minDurationMs: 30_000 })), [ids.e]);
        assert.equal(idsOf(await repo.list({ ...inUnit, maxDurationMs: 30_000 })).length, 7);
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, agentId: 'agent-7' })), [ids.g]);
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, numberIndex: Buffer.alloc(32, 7) })), [ids.h, ids.e], 'calls from the number and calls to it');
        assert.deepEqual(idsOf(await repo.list({ ...inUnit, from: t0 + 1000, to: t0 + 2000 })), [ids.d, ids.c, ids.b]);
        const scoped = (scope: ListFilter['scope']) => repo.list({ ...inUnit, scope });
        assert.deepEqual(idsOf(await scoped({ kind: 'some', careUnits: ['elsewhere'], agentId: 'agent-7', grantsOf: null })), [ids.g]);
        assert.equal(idsOf(await scoped({ kind: 'some', careUnits: [unit], agentId: null, grantsOf: null })).length, 8);
        assert.deepEqual(idsOf(await scoped({ kind: 'some', careUnits: [], agentId: null, grantsOf: null })), []);
        // An erased recording is a tombstone: listed nowhere, got by no one.
        assert.equal(await repo.get(ids.i!), undefined);
        assert.ok(await repo.get(ids.a!));
      });
    });
  });
}

describe('the embedded catalog\'s prepared statements', () => {
  it('are prepared once per query text and reused (each fresh one held native memory until a full collection)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'callvault-stmts-'));
    const db = await openCatalog({ file: join(dir, 'catalog.sqlite') });
    try {
      const driver = sqliteDriverOf(db)!;
      const prepare = driver.prepare.bind(driver);
      let prepared = 0;
      driver.prepare = ((source: string) => {
        prepared++;
        return prepare(source);
      }) as typeof driver.prepare;
      for (let i = 0; i < 100; i++) await db.selectFrom('recordings').select('id').where('id', '=', String(i)).executeTakeFirst();
      assert.equal(prepared, 1, 'one statement for a hundred queries');
      // A streamed result holds the connection: the next query of the same text waits for it and may reuse the statement.
      const migrations = db.withTables<{ kysely_migration: { name: string } }>();
      const names: string[] = [];
      for await (const r of migrations.selectFrom('kysely_migration').select('name').orderBy('name').stream()) names.push(r.name);
      assert.deepEqual(names, MIGRATIONS);
      assert.deepEqual((await migrations.selectFrom('kysely_migration').select('name').orderBy('name').execute()).map((r) => r.name), MIGRATIONS);
    } finally {
      await db.destroy();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
