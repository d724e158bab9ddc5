// `audit verify` reads each entry as the JSON text the catalog builds (jsonArrayOf), and falls
// back to the entry's columns where that text's hash differs from the stored one. Entries with
// awkward values (quotes, backslashes, control characters, characters beyond the BMP, a time
// beyond what a JavaScript number holds exactly) verify clean in one pass and across worker
// threads, and an altered one among them is still named.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { entryBytes, entryLeafHash, rehashedPage } from '../src/audit/entry.ts';
import { jsonArrayOf } from '../src/catalog/db.ts';
import { assertRehashedAsAsked, signedAuditLog, type SignedAuditLog } from './helpers/audit-log.ts';
import { TEST_CATALOG } from './helpers/catalog.ts';

const AWKWARD = [
  'plain', 'a "quoted" word', 'back\\slash', 'tab\there', 'new\nline', 'carriage\rreturn', 'bell\u0007', 'unit\u001fseparator', 'delete\u007f',
  'line\u2028separator', 'paragraph\u2029separator', 'byte order\ufeffmark', 'åäö Ölandsgatan', '電話', '😀 beyond the BMP', '</script>', '{"json":"inside"}', '',
];
/**
 * 2^53 + 1: SQLite writes it exactly, a JavaScript number cannot hold it. (PostgreSQL refuses to
 * hand such a value to JavaScript at all, so there the entry keeps an ordinary time.)
 */
const HUGE = '9007199254740993';
const MODES = [['in one pass', { workers: 0 }], ['across two worker threads', { workers: 2, chunk: 64, thisThread: false }]] as const;

describe('audit verify over entries with awkward values', () => {
  let log: SignedAuditLog;
  let n = 0;

  before(async () => {
    // Many enough that the worker threads get several chunks.
    const rows = Array.from({ length: 600 }, (_, i) => {
      const text = AWKWARD[i % AWKWARD.length]!;
      return {
        at: 1_795_000_000_000 + i, actor_type: 'user' as const, actor_id: text, action: 'recording.played', object_type: 'recording',
        object_id: String(i), care_unit: text, patient_pseudonym: i % 3 === 0 ? null : text, outcome: 'success' as const, request_id: text, source: null,
        details: JSON.stringify({ note: text }),
      };
    });
    log = await signedAuditLog(rows, async (db) => {
      // The one beyond 2^53 is hashed as the log would have hashed it when read back.
      if (TEST_CATALOG === 'sqlite') await sql`UPDATE audit_events SET at = ${sql.raw(HUGE)} WHERE object_id = '300'`.execute(db);
      const huge = await db.selectFrom('audit_events').selectAll().where('object_id', '=', '300').executeTakeFirstOrThrow();
      await db.updateTable('audit_events').set({ leaf_hash: entryLeafHash(huge) }).where('seq', '=', huge.seq).execute();
    });
  });
  after(() => log.close());

  it('the catalog writes the same JSON as entryBytes for strings, integers and nulls (SQLite; PostgreSQL is not asked to)', async () => {
    const json = jsonArrayOf(log.db, [sql`CAST(${sql.lit('callvault.audit.v1')} AS text)`, ...(['at', 'actor_type', 'actor_id', 'action', 'object_type', 'object_id', 'care_unit', 'patient_pseudonym', 'outcome', 'request_id', 'source', 'details'] as const).map((c) => sql.ref(c))]);
    if (TEST_CATALOG === 'postgres') return assert.equal(json, null);
    assert.ok(json);
    const rows = await log.db.selectFrom('audit_events').selectAll().select(json.as('entry')).where('object_id', '!=', '300').execute();
    assert.equal(rows.length, 599);
    for (const r of rows) assert.equal(r.entry, entryBytes(r).toString('utf8'), `entry ${r.seq}`);
  });

  if (TEST_CATALOG === 'sqlite') it('where the catalog writes an entry otherwise (a time beyond 2^53), the entry is hashed from its columns and is intact', async () => {
    const huge = await log.db.selectFrom('audit_events').select(['seq']).where('object_id', '=', '300').executeTakeFirstOrThrow();
    const [r] = await rehashedPage(log.db, huge.seq - 1, 1);
    assert.equal(r?.seq, huge.seq);
    assert.equal(r?.intact, true);
    const [text] = (await sql<{ t: string }>`SELECT json_array(at) AS t FROM audit_events WHERE seq = ${huge.seq}`.execute(log.db)).rows;
    assert.equal(text?.t, `[${HUGE}]`, 'the catalog writes the time exactly');
    assert.ok(r?.leaf.equals(entryLeafHash(await log.db.selectFrom('audit_events').selectAll().where('seq', '=', huge.seq).executeTakeFirstOrThrow())));
  });

  // SQLite lets any column hold any type: a binary value where text belongs cannot be written as
  // JSON by the catalog (json_array refuses it), and is named like any other alteration.
  if (TEST_CATALOG === 'sqlite') for (const [mode, parallel] of MODES) {
    it(`an entry whose text was replaced by a binary value is named as altered, ${mode}`, async () => {
      const target = 77;
      const before = await log.db.selectFrom('audit_events').select(['actor_id']).where('seq', '=', target).executeTakeFirstOrThrow();
      await sql`UPDATE audit_events SET actor_id = CAST(actor_id AS BLOB) WHERE seq = ${target}`.execute(log.db);
      try {
        const bad = await log.verify(parallel);
        assert.deepEqual(bad.problems.filter((p) => p.startsWith('entry ')), [`entry ${target}: its content does not match its hash (altered)`]);
      } finally {
        await log.db.updateTable('audit_events').set({ actor_id: before.actor_id }).where('seq', '=', target).execute();
      }
    });
  }

  for (const [mode, parallel] of MODES) {
    it(`verifies clean ${mode}, and names an altered entry among them`, async () => {
      const clean = await log.verify(parallel);
      assert.deepEqual(clean.problems, []);
      assert.equal(clean.entries, 600);
      assertRehashedAsAsked(clean, parallel);
      // Altered, then put back: the unaltered log is what the next case starts from.
      const target = 41 + n++;
      const before = await log.db.selectFrom('audit_events').select(['care_unit']).where('seq', '=', target).executeTakeFirstOrThrow();
      await log.db.updateTable('audit_events').set({ care_unit: `${before.care_unit ?? ''} ` }).where('seq', '=', target).execute();
      try {
        const bad = await log.verify(parallel);
        assert.deepEqual(bad.problems.filter((p) => p.startsWith('entry ')), [`entry ${target}: its content does not match its hash (altered)`]);
      } finally {
        await log.db.updateTable('audit_events').set({ care_unit: before.care_unit }).where('seq', '=', target).execute();
      }
    });
  }
});
