// Ways to make the catalog itself say an altered audit entry is the one that was hashed, each of
// which `audit verify` must see through (it hashes the JSON text SQLite builds, jsonArrayOf, and
// reads the columns where that text's hash differs):
// - SQLite (3.45 and later) writes a BLOB that is well-formed JSONB as the JSON it holds: a text
//   column set to jsonb(json_quote(itself)) reads as bytes (and matches no text filter), yet
//   json_array would write the very text that was hashed at append time. A row holding a BLOB is
//   read column by column.
// - PostgreSQL resolves to_json(text) by the search path: a to_json(text) in public is an exact
//   match, chosen over pg_catalog's to_json(anyelement), so text the catalog builds can say
//   anything. On PostgreSQL verify reads the columns.
// In both cases the columns, hashed with entryBytes, do not give the stored hash: verify names the
// entry as altered.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { entryLeafHash } from '../src/audit/entry.ts';
import { readTimeline } from '../src/audit/timeline.ts';
import { signedAuditLog, type SignedAuditLog } from './helpers/audit-log.ts';
import { TEST_CATALOG } from './helpers/catalog.ts';

const MODES = [['in one pass', { workers: 0 }], ['across two worker threads', { workers: 2, chunk: 64, thisThread: false }]] as const;

describe('audit verify against an entry the catalog is made to rewrite', () => {
  let log: SignedAuditLog;
  let n = 0;

  before(async () => {
    log = await signedAuditLog(Array.from({ length: 300 }, (_, i) => ({
      at: 1_795_000_000_000 + i, actor_type: 'user' as const, actor_id: `user-${i % 7}`, action: 'recording.played', object_type: 'recording',
      object_id: `rec-${i}`, care_unit: 'cardiology', patient_pseudonym: `P-${i % 11}`, outcome: 'success' as const, request_id: `req-${i}`, source: null,
      details: JSON.stringify({ reason: 'treatment' }),
    })));
  });
  after(() => log.close());

  /** The recording's own access history, as the app reads it. */
  const history = async (rec: string) => (await readTimeline(log.db, { limit: 1000, recording: rec })).items.map((e) => e.seq);

  /** The old check: the columns as read, hashed with entryBytes, against the stored hash. */
  const columnsMatch = async (seq: number) => {
    const row = await log.db.selectFrom('audit_events').selectAll().where('seq', '=', seq).executeTakeFirstOrThrow();
    return entryLeafHash(row).equals(row.leaf_hash);
  };

  if (TEST_CATALOG === 'sqlite') for (const [mode, parallel] of MODES) {
    it(`an entry whose object was replaced by a JSONB blob of the same text is named as altered, ${mode}`, async () => {
      const target = 101 + n++;
      const rec = `rec-${target - 1}`;
      assert.deepEqual(await history(rec), [target]);
      await sql`UPDATE audit_events SET object_id = jsonb(json_quote(object_id)) WHERE seq = ${target}`.execute(log.db);
      try {
        // What the entry says has changed: the recording's access history no longer lists it.
        assert.deepEqual(await history(rec), []);
        assert.equal(await columnsMatch(target), false, 'the columns as read no longer give the stored hash');
        const bad = await log.verify(parallel);
        assert.deepEqual(bad.problems.filter((p) => p.startsWith('entry ')), [`entry ${target}: its content does not match its hash (altered)`]);
      } finally {
        await log.db.updateTable('audit_events').set({ object_id: rec }).where('seq', '=', target).execute();
      }
    });
  }

  if (TEST_CATALOG === 'postgres') for (const [mode, parallel] of MODES) {
    it(`an entry rewritten behind a to_json(text) of the catalog's own is named as altered, ${mode}`, async () => {
      const target = 101 + n++;
      const rec = `rec-${target - 1}`;
      await log.db.updateTable('audit_events').set({ object_id: 'rec-elsewhere' }).where('seq', '=', target).execute();
      await sql.raw(`CREATE FUNCTION public.to_json(v text) RETURNS json LANGUAGE sql IMMUTABLE
        AS $$ SELECT pg_catalog.to_json(CASE WHEN v = 'rec-elsewhere' THEN '${rec}' ELSE v END) $$`).execute(log.db);
      try {
        assert.deepEqual(await history(rec), []);
        assert.deepEqual(await history('rec-elsewhere'), [target]);
        assert.equal(await columnsMatch(target), false, 'the columns as read no longer give the stored hash');
        const bad = await log.verify(parallel);
        assert.deepEqual(bad.problems.filter((p) => p.startsWith('entry ')), [`entry ${target}: its content does not match its hash (altered)`]);
      } finally {
        await sql`DROP FUNCTION IF EXISTS public.to_json(text)`.execute(log.db);
        await log.db.updateTable('audit_events').set({ object_id: rec }).where('seq', '=', target).execute();
      }
    });
  }

  for (const [mode, parallel] of MODES) {
    it(`verifies clean once the entries are put back, ${mode}`, async () => {
      const clean = await log.verify(parallel);
      assert.deepEqual(clean.problems, []);
      assert.equal(clean.entries, 300);
    });
  }
});
