// Erasure reaches every copy: the catalog's own files and free space, the blind indexes, a call
// that goes on after a restart, what a crash leaves for recovery, and objects a failing store
// would not delete at once.
import assert from 'node:assert/strict';
import { readFile, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { makeRawG711 } from '../src/ingest/g711.ts';
import { createRetention } from '../src/jobs/retention.ts';
import { enrollPerson, ingestKey, reopenServer, signIn, startTestServer, sendAs as send, type Person, type ServedArchive, type SessionCreds, type TestServer } from './helpers/archive.ts';
import { openTestArchive, releaseTestArchive, TEST_CATALOG } from './helpers/catalog.ts';
import { metaHeader, recordingIdOf, tusCreate, tusHead, tusPatch, tusUpload } from './helpers/tus.ts';

const RAW = { startedAt: '2026-11-25T09:00:00Z', direction: 'inbound', careUnit: 'Norr', codec: 'pcmu', sampleRate: '8000', channels: '1' };
const audio = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 20 });

/** Whether `needle` occurs anywhere in the catalog's files (SQLite: the database and its write-ahead log). */
async function inCatalogFiles(dir: string, needle: Buffer): Promise<string[]> {
  const found: string[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.startsWith('catalog.sqlite'))) {
    if ((await readFile(join(dir, name))).includes(needle)) found.push(name);
  }
  return found;
}

/** Times the recordings table was vacuumed (PostgreSQL). */
async function vacuums(s: TestServer): Promise<number> {
  if (TEST_CATALOG !== 'postgres') return 0;
  return Number((await sql<{ n: string }>`SELECT vacuum_count AS n FROM pg_stat_user_tables WHERE relname = 'recordings'`.execute(s.archive.db)).rows[0]?.n ?? 0);
}

/**
 * The catalog was compacted after an erasure: on SQLite no byte of `bytes` (the wrapped key, a
 * sealed number...) is left in its files; PostgreSQL vacuumed the recordings table once more
 * than the `vacuumsBefore` it had.
 */
async function assertCompacted(s: TestServer, bytes: ReadonlyArray<readonly [string, Uint8Array]>, vacuumsBefore: number): Promise<void> {
  if (TEST_CATALOG === 'sqlite') {
    // What secure_delete and the checkpoint after an erasure are for.
    for (const [what, b] of bytes) assert.deepEqual(await inCatalogFiles(s.dir, Buffer.from(b)), [], `the ${what} is gone from the catalog files`);
    return;
  }
  // PostgreSQL keeps old row versions until VACUUM: the purge vacuums the tables an erasure touched.
  for (let i = 0; i < 50 && (await vacuums(s)) <= vacuumsBefore; i++) await sleep(100);
  assert.ok((await vacuums(s)) > vacuumsBefore, 'recordings was vacuumed after the erasure');
}

/** A live call of 2 pieces, shut down and filed as interrupted; returns its id (resumable). */
async function interruptedCall(s: TestServer, key: string, caller: string): Promise<string> {
  const created = await tusCreate(s.url, key, { 'upload-defer-length': '1', 'upload-metadata': metaHeader({ ...RAW, caller }) });
  assert.equal(created.status, 201);
  const id = recordingIdOf(created.headers.get('location')!);
  for (let i = 0; i < 2; i++) assert.equal((await tusPatch(s.url, key, id, i * 80_000, audio.subarray(i * 80_000, (i + 1) * 80_000))).status, 204);
  return id;
}

describe('erasure reaches every copy', () => {
  let s: TestServer;
  let key: string;
  let officer: Person;
  let c: SessionCreds;

  before(async () => {
    s = await startTestServer();
    key = await ingestKey(s);
    officer = await enrollPerson(s, 'dpo', { roles: ['privacy_officer'] });
    c = await signIn(s, officer);
  });
  after(() => s.close());

  it('the tombstone keeps no blind index of the patient, and the catalog\'s files keep no byte of the key or numbers', async () => {
    const id = recordingIdOf(await tusUpload(s.url, key, audio.subarray(0, 16_000), { ...RAW, caller: '0701112233', patientId: '19811218-9876' }));
    const before = await s.archive.db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.ok(before.patient_index && before.caller_sealed && before.caller_index);
    const vacuumsBefore = await vacuums(s);
    const res = await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { audioDeleted: boolean }).audioDeleted, true);
    const row = await s.archive.db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.patient_index, null, 'the patient\'s blind index went with the erasure');
    await s.running.purge.idle();
    await assertCompacted(s, [['header', before.header], ['sealed caller', before.caller_sealed], ['caller index', before.caller_index], ['patient index', before.patient_index]], vacuumsBefore);
  });

  it('what people wrote about the call (a break-glass reason, a review note) goes with it; the grant and its review stay', async () => {
    const id = recordingIdOf(await tusUpload(s.url, key, audio.subarray(0, 16_000), { ...RAW, careUnit: 'Syd', caller: '0709998877' }));
    const outsider = await signIn(s, await enrollPerson(s, 'nurse-norr', { roles: ['supervisor'], careUnits: ['Norr'] }));
    const reason = 'patient 19811218-9876 called back about her medication';
    const grant = await send(s, outsider, 'POST', `/api/v1/recordings/${id}/break-glass`, { reason });
    assert.equal(grant.status, 201, await grant.clone().text());
    const { id: grantId } = (await grant.json()) as { id: string };
    const auditor = await signIn(s, await enrollPerson(s, 'auditor', { roles: ['auditor'] }));
    assert.equal((await send(s, auditor, 'POST', `/api/v1/break-glass/${grantId}/review`, { verdict: 'justified', note: 'confirmed with 19811218-9876 herself' })).status, 200);
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' })).status, 200);
    const row = await s.archive.db.selectFrom('break_glass').selectAll().where('id', '=', grantId).executeTakeFirstOrThrow();
    assert.equal(row.reason, '(erased with the recording)');
    assert.equal(row.review_note, '(erased with the recording)');
    assert.equal(row.review_verdict, 'justified', 'the review stays');
    await s.running.purge.idle();
    if (TEST_CATALOG === 'sqlite') assert.deepEqual(await inCatalogFiles(s.dir, Buffer.from('19811218-9876')), [], 'the text is gone from the catalog files');
  });

  it('a committed erasure is answered 200 even when the catalog fails to take its objects off the queue', async () => {
    const id = recordingIdOf(await tusUpload(s.url, key, audio.subarray(0, 16_000), { ...RAW, caller: '0701212121' }));
    // The catalog refuses the statement that takes deleted objects off the queue (as a dropped connection would).
    if (TEST_CATALOG === 'postgres') {
      await sql.raw(`CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'catalog away'; END $$`).execute(s.archive.db);
      await sql.raw('CREATE TRIGGER test_refuse BEFORE DELETE ON pending_deletions FOR EACH ROW EXECUTE FUNCTION test_refuse()').execute(s.archive.db);
    } else {
      await sql.raw(`CREATE TRIGGER test_refuse BEFORE DELETE ON pending_deletions BEGIN SELECT RAISE(ABORT, 'catalog away'); END`).execute(s.archive.db);
    }
    try {
      const res = await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(((await res.json()) as { audioDeleted: boolean }).audioDeleted, false);
    } finally {
      await sql.raw('DROP TRIGGER test_refuse' + (TEST_CATALOG === 'postgres' ? ' ON pending_deletions' : '')).execute(s.archive.db);
    }
    await s.running.purge.run(); // the object is gone already: its queue row goes now
    assert.equal(await s.running.purge.pending(), 0);
  });

  it('an object already gone, or never stored (a synthetic call\'s name), leaves the queue', async () => {
    const seeded = 'a168564039ba5b8df0000000000000000'; // what `callvault seed` names its calls' absent audio
    const missing = 'f'.repeat(32);
    await s.archive.db.insertInto('pending_deletions').values([seeded, missing].map((k) => ({ blob_key: k, recording_id: 'r-' + k, queued_at: Date.now() }))).execute();
    await s.running.purge.run();
    assert.equal(await s.running.purge.pending(), 0);
  });

  it('a store that fails to delete: the erasure answers at once, the object stays queued, and goes once the store is back', async () => {
    const id = recordingIdOf(await tusUpload(s.url, key, audio.subarray(0, 16_000), { ...RAW, caller: '0702223344' }));
    const before = await s.archive.db.selectFrom('recordings').select(['blob_key', 'header']).where('id', '=', id).executeTakeFirstOrThrow();
    const { blob_key } = before;
    const vacuumsBefore = await vacuums(s);
    // Fault injection around the real store (an outage cannot be had on demand): while `away`,
    // a delete hangs for a minute and then fails, as a store that does not answer.
    let away = true;
    const store = s.archive.store;
    const realDelete = store.delete.bind(store);
    store.delete = async (k) => {
      if (away) {
        await sleep(60_000, undefined, { ref: false });
        throw new Error('connect ETIMEDOUT (injected)');
      }
      return realDelete(k);
    };
    try {
      const started = Date.now();
      const res = await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
      assert.equal(res.status, 200);
      assert.ok(Date.now() - started < 20_000, `answered in ${Date.now() - started} ms`);
      assert.equal(((await res.json()) as { audioDeleted: boolean }).audioDeleted, false, 'the answer says the audio is not deleted yet');
      const row = await s.archive.db.selectFrom('recordings').select(['header', 'erased_at']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.ok(row.erased_at !== null && row.header.length === 0, 'the key is gone at once');
      // The object is still stored: the key must already be gone from the catalog's files too,
      // or the two together would still open the call.
      await s.running.purge.idle();
      await assertCompacted(s, [['header', before.header]], vacuumsBefore);
      const queued = await s.archive.db.selectFrom('pending_deletions').selectAll().where('recording_id', '=', id).execute();
      assert.deepEqual(queued.map((q) => q.blob_key), [blob_key]);
      assert.ok(await store.size(blob_key), 'the object is still there');
      // The store fails quickly now: a background run records the attempt and names the recording in the log.
      store.delete = async (k) => {
        if (away) throw new Error('connect ECONNREFUSED (injected)');
        return realDelete(k);
      };
      assert.equal(await s.running.purge.run(), 0);
      const failed = await s.archive.db.selectFrom('pending_deletions').selectAll().where('recording_id', '=', id).executeTakeFirstOrThrow();
      assert.ok(failed.attempts >= 1 && /ECONNREFUSED/.test(failed.last_error ?? ''), JSON.stringify(failed));
      assert.ok(s.logs.some((l) => l.includes(id) && l.includes(blob_key)), 'the log names the recording and the object');
      away = false;
      assert.equal(await s.running.purge.run(), 1);
      assert.equal(await s.running.purge.pending(), 0);
      await assert.rejects(store.size(blob_key), 'the object is gone');
    } finally {
      away = false;
      store.delete = realDelete;
    }
  });
});

describe('erasure: objects the store refuses to delete', () => {
  let s: TestServer;
  let key: string;
  let c: SessionCreds;
  before(async () => {
    s = await startTestServer();
    key = await ingestKey(s);
    c = await signIn(s, await enrollPerson(s, 'dpo', { roles: ['privacy_officer'] }));
  });
  after(() => s.close());

  it('retention with the store away: the keys of what it erased leave the catalog\'s files at once', async () => {
    const id = recordingIdOf(await tusUpload(s.url, key, audio.subarray(0, 16_000), { ...RAW, caller: '0702223399' }));
    const before = await s.archive.db.selectFrom('recordings').select(['header', 'caller_sealed']).where('id', '=', id).executeTakeFirstOrThrow();
    const vacuumsBefore = await vacuums(s);
    const store = s.archive.store;
    const realDelete = store.delete.bind(store);
    store.delete = async () => {
      throw new Error('connect ECONNREFUSED (injected)');
    };
    try {
      // The call started on 25 November: past a one-day period.
      const job = createRetention({ db: s.archive.db, audit: s.archive.audit, purge: s.running.purge, rules: { days: 1, byUnit: {} } });
      let report = await job.run();
      while (report.elsewhere) report = await job.run(); // the server's own run at start, on PostgreSQL
      assert.equal(report.erased['*'], 1, JSON.stringify(report));
      assert.equal(await s.running.purge.pending(), 1, 'the object stays queued while the store is away');
      await s.running.purge.idle();
      await assertCompacted(s, [['header', before.header], ['sealed caller', before.caller_sealed!]], vacuumsBefore);
    } finally {
      store.delete = realDelete;
      await s.running.purge.run();
    }
  });

  it('objects the store keeps refusing (a lock on them, a policy) do not hold up those queued behind them', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(recordingIdOf(await tusUpload(s.url, key, audio.subarray(0, 16_000), { ...RAW, caller: `070222330${i}` })));
    const keys = (await s.archive.db.selectFrom('recordings').select('blob_key').where('id', 'in', ids).execute()).map((r) => r.blob_key).sort();
    // The first three in the queue's order are refused for good; the store is away for all at first.
    const refused = new Set(keys.slice(0, 3));
    let away = true;
    const store = s.archive.store;
    const realDelete = store.delete.bind(store);
    store.delete = async (k) => {
      if (away) throw new Error('connect ECONNREFUSED (injected)');
      if (refused.has(k)) throw new Error('AccessDenied (injected: an object lock)');
      return realDelete(k);
    };
    try {
      for (const id of ids) {
        const res = await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' });
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { audioDeleted: boolean }).audioDeleted, false);
      }
      await s.running.purge.idle();
      away = false;
      // Two runs, as the server makes every minute: the refused ones are tried, and passed over.
      await s.running.purge.run();
      await s.running.purge.run();
      const queued = (await s.archive.db.selectFrom('pending_deletions').select('blob_key').where('recording_id', 'in', ids).execute()).map((r) => r.blob_key).sort();
      assert.deepEqual(queued, [...refused].sort(), 'only the refused objects are still queued');
      for (const k of keys) {
        const stored = await store.size(k).then(() => true, () => false);
        assert.equal(stored, refused.has(k), `object ${k} ${refused.has(k) ? 'stays' : 'is gone'}`);
      }
      const attempts = await s.archive.db.selectFrom('pending_deletions').select(['attempts', 'last_error']).where('blob_key', 'in', [...refused]).execute();
      assert.ok(attempts.every((a) => a.attempts >= 2 && /AccessDenied/.test(a.last_error ?? '')), JSON.stringify(attempts));
    } finally {
      store.delete = realDelete;
      refused.clear();
      await s.running.purge.run();
    }
  });
});

interface Restarted {
  key: string;
  /** A call filed as interrupted by a restart, resumable by its client. */
  id: string;
  /** A privacy officer's session (it outlives the restart). */
  officer: SessionCreds;
  /** The server serving the archive now; a test that restarts it again sets it. */
  again: ServedArchive;
  /** The first server's settings with the address and archive of `again`. */
  readonly s: TestServer;
}

/** Runs `test` after a restart that filed a live call early; cleans up after it. */
async function afterRestart(caller: string, test: (r: Restarted) => Promise<void>): Promise<void> {
  const first = await startTestServer();
  const key = await ingestKey(first);
  const officer = await signIn(first, await enrollPerson(first, 'dpo', { roles: ['privacy_officer'] }));
  const id = await interruptedCall(first, key, caller);
  await first.running.close();
  await first.archive.close();
  const r: Restarted = {
    key, id, officer, again: await reopenServer(first.dir),
    get s() {
      return { ...first, url: this.again.url, archive: this.again.archive, running: this.again.running };
    },
  };
  try {
    await test(r);
  } finally {
    await r.again.close().catch(() => undefined); // closed already by a test that failed half-way through a restart
    await releaseTestArchive(first.dir);
    await rm(dirname(first.dir), { recursive: true, force: true });
  }
}

describe('erasure of a call that goes on after a restart', () => {
  it('ends the call at once: no byte more is taken, its upload row, journal and temporary object go too', () => afterRestart('0703334455', async (r) => {
    const { s, key, id, officer: c } = r;
    const again = r.again;
    const head = await tusHead(s.url, key, id);
    assert.equal(head.headers.get('upload-offset'), '160000');
    assert.equal((await tusPatch(s.url, key, id, 160_000, audio.subarray(160_000, 240_000))).status, 204, 'the client goes on');
    const live = await s.archive.db.selectFrom('uploads').select(['blob_key', 'header']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.ok(live.header.length > 0, 'the continuation holds a copy of the key');
    assert.equal((await send(s, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' })).status, 200);
    const more = await tusPatch(s.url, key, id, 240_000, audio.subarray(240_000, 320_000));
    assert.ok(more.status === 404 || more.status === 410, `a PATCH after the erasure is refused (${more.status})`);
    assert.equal((await tusHead(s.url, key, id)).status, 404);
    assert.equal(await s.archive.db.selectFrom('uploads').select('id').where('id', '=', id).executeTakeFirst(), undefined, 'the upload row (a copy of the key) is gone');
    assert.deepEqual(await s.archive.db.selectFrom('ingest_journal').select('seq').where('upload_id', '=', id).execute(), []);
    await again.running.purge.idle();
    assert.equal(await again.running.purge.pending(), 0);
    if (TEST_CATALOG === 'sqlite') {
      assert.deepEqual((await readdir(join(s.dir, 'blobs', '.tmp'))).filter((n) => n.startsWith(live.blob_key)), [], 'the continuation\'s temporary object is gone');
    }
    const row = await s.archive.db.selectFrom('recordings').select(['header', 'plaintext_size', 'erased_at']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.header.length, 0);
    // A restart files nothing of it.
    await r.again.close();
    r.again = await reopenServer(s.dir);
    const restarted = r.again;
    assert.deepEqual(restarted.running.recovery.recovered, []);
    const tomb = await restarted.archive.db.selectFrom('recordings').select(['header', 'erased_at', 'flags']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(tomb.header.length, 0);
    assert.ok(tomb.erased_at);
  }));

  it('a continuation an earlier version left in flight for a recording it then erased is not filed at restart', () => afterRestart('0704445566', async (r) => {
    const { s, key, id } = r;
    let again = r.again;
    assert.equal((await tusPatch(again.url, key, id, 160_000, audio.subarray(160_000, 240_000))).status, 204);
    const upload = await again.archive.db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    await again.close(); // the continuation stays in flight, for recovery
    // An erasure as earlier versions made it: the recording's row only, its continuation left.
    const archive = await openTestArchive(s.dir);
    const filed = await archive.db.selectFrom('recordings').select('blob_key').where('id', '=', id).executeTakeFirstOrThrow();
    await archive.db.updateTable('recordings').set({ erased_at: Date.now(), header: new Uint8Array(0), caller_sealed: null, caller_index: null }).where('id', '=', id).execute();
    await archive.close();
    again = r.again = await reopenServer(s.dir);
    assert.deepEqual(again.running.recovery.recovered, [], 'nothing is filed');
    assert.deepEqual(again.running.recovery.dropped, [id]);
    const tomb = await again.archive.db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(tomb.header.length, 0, 'still a tombstone');
    assert.equal(tomb.blob_key, filed.blob_key, 'no new object was filed into the tombstone');
    assert.equal(tomb.plaintext_size, 160_000);
    await assert.rejects(again.archive.store.size(upload.blob_key), 'what recovery sealed of the continuation is gone');
    assert.equal(await again.archive.db.selectFrom('uploads').select('id').where('id', '=', id).executeTakeFirst(), undefined);
    const rejected = await again.archive.db.selectFrom('audit_events').select('action').where('object_id', '=', id).where('action', '=', 'ingest.rejected').execute();
    assert.equal(rejected.length, 1, 'the refusal is audited');
  }));

  it('a client resuming while its recording is erased gets 404, not an internal error', () => afterRestart('0705556677', async (r) => {
    const { s, key, id, officer: c, again } = r;
    const { blob_key } = await again.archive.db.selectFrom('recordings').select('blob_key').where('id', '=', id).executeTakeFirstOrThrow();
    // Interposed on the real store: the first read of the recording's object, as the client's
    // resume starts, waits for the officer's erasure to be answered.
    const store = again.archive.store;
    const realStream = store.stream.bind(store);
    let erased: Promise<number> | null = null;
    store.stream = (k, ...rest) => {
      if (k !== blob_key || erased) return realStream(k, ...rest);
      erased = send({ ...s, url: again.url }, c, 'POST', `/api/v1/recordings/${id}/erase`, { basis: 'data_subject_request' }).then((r) => r.status);
      return (async function* () {
        await erased;
        yield* realStream(k, ...rest);
      })();
    };
    const res = await tusPatch(again.url, key, id, 160_000, audio.subarray(160_000, 240_000));
    assert.equal(await erased, 200);
    assert.equal(res.status, 404, `the resume is answered 404 (${res.status}: ${await res.text()})`);
    assert.equal(await again.archive.db.selectFrom('uploads').select('id').where('id', '=', id).executeTakeFirst(), undefined);
  }));
});
