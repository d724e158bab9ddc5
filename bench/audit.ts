// bench:audit — the audit log's durable append rate with concurrent writers (group commit)
// against one transaction per event (the reference, same process, same disk); full
// verification of 1,000,000 entries across worker threads against one pass (the reference);
// inclusion proofs in a 1,000,000-entry log as the API answers them, against the tree in memory;
// a patient's log extract in that log, against the same query reading the whole log (without
// the audit_patient index, as before migration 012). The append rate is also set against SQLite
// alone: the same table and batches, with and without the log's three lookup indexes; and
// measured again into the full log (the first figure is into a new, empty one).
//
// Usage: npm run bench:audit [-- --entries 1000000 --seconds 3 --writers 64]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { auditVerifierKey, createCheckpointer, logOrigin } from '../src/audit/checkpointer.ts';
import { sql } from 'kysely';
import { entryLeafHash } from '../src/audit/entry.ts';
import { accessEvents } from '../src/audit/extract.ts';
import { verifyInclusion } from '../src/audit/merkle.ts';
import { loadTree, proveEntry, verifyAuditLog } from '../src/audit/verify.ts';
import { initArchive, openArchive } from '../src/cli/archive.ts';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '1000000' }, seconds: { type: 'string', default: '3' }, writers: { type: 'string', default: '64' } } });
const ENTRIES = Number(values.entries);
const SECONDS = Number(values.seconds);
const WRITERS = Number(values.writers);

const root = mkdtempSync(join(tmpdir(), 'callvault-bench-audit-'));
try {
  const dir = join(root, 'data');
  await initArchive(dir);
  const a = await openArchive(dir);
  // Plays of 5,000 calls by 100 people; a play names its call's patient (one of 4,000).
  const recordingOf = (i: number) => (i % 5000).toString(16).padStart(32, '0');
  const patientOf = (i: number) => (i % 5000 % 4000).toString(16).padStart(32, 'a');
  const event = (i: number) => ({
    action: 'recording.played' as const, actor: { type: 'user' as const, id: `user-${i % 100}`, role: 'clinician' }, outcome: 'success' as const,
    object: { type: 'recording' as const, id: recordingOf(i) }, careUnit: 'unit-a', patientPseudonym: patientOf(i), requestId: `r${i}`, source: '127.0.0.1',
    details: { start: i * 100, end: i * 100 + 65536 },
  });

  // 1. Durable appends: WRITERS concurrent request handlers, each awaiting its event.
  async function appendsPerSecond(write: (i: number) => Promise<void>): Promise<number> {
    let count = 0;
    const stop = performance.now() + SECONDS * 1000;
    await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = w; performance.now() < stop; i += WRITERS) {
        await write(i);
        count++;
      }
    }));
    return count / SECONDS;
  }
  const grouped = await appendsPerSecond((i) => a.audit.record(event(i)));
  const single = await appendsPerSecond((i) => a.db.transaction().execute(async (trx) => a.audit.record(event(i), trx)));
  console.log(`durable appends, ${WRITERS} concurrent writers: group commit ${Math.round(grouped)}/s; one transaction per event ${Math.round(single)}/s (reference); ratio ${(grouped / single).toFixed(1)}`);
  // What SQLite itself allows (reference): the same table in WAL with synchronous=FULL, rows
  // bound to one prepared statement, WRITERS rows per transaction, with the log's three lookup
  // indexes (by recording, by patient, by person and time) and without them.
  const sqliteAlone = (withIndexes: boolean): number => {
    const file = join(root, `alone-${withIndexes}.sqlite`);
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(`CREATE TABLE audit_events (seq integer primary key autoincrement, at bigint not null, actor_type text not null, actor_id text, action text not null, object_type text, object_id text, care_unit text, patient_pseudonym text, outcome text not null, request_id text, source text, details text, leaf_hash blob)`);
    if (withIndexes) db.exec(`CREATE INDEX o ON audit_events (object_id, seq); CREATE INDEX p ON audit_events (patient_pseudonym, seq) WHERE patient_pseudonym IS NOT NULL; CREATE INDEX a ON audit_events (actor_id, at)`);
    const insert = db.prepare('INSERT INTO audit_events (at, actor_type, actor_id, action, object_type, object_id, care_unit, patient_pseudonym, outcome, request_id, source, details, leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const leaf = Buffer.alloc(32, 1);
    const batch = db.transaction((from: number) => {
      for (let i = from; i < from + WRITERS; i++) {
        const e = event(i);
        insert.run(Date.now(), e.actor.type, e.actor.id, e.action, e.object.type, e.object.id, e.careUnit, e.patientPseudonym, e.outcome, e.requestId, e.source, JSON.stringify(e.details), leaf);
      }
    });
    let count = 0;
    const stop = performance.now() + SECONDS * 1000;
    while (performance.now() < stop) {
      batch(count);
      count += WRITERS;
    }
    db.close();
    return count / SECONDS;
  };
  const aloneIndexed = sqliteAlone(true);
  const aloneBare = sqliteAlone(false);
  console.log(`SQLite alone, ${WRITERS} rows per transaction (reference): with the three lookup indexes ${Math.round(aloneIndexed)}/s (callvault's group commit: ${(grouped / aloneIndexed).toFixed(2)} of it); without them ${Math.round(aloneBare)}/s`);

  // 2. Fill to ENTRIES, checkpoint, verify everything.
  const have = Number((await a.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const t0 = performance.now();
  for (let from = have; from < ENTRIES; from += 10_000) {
    await a.db.transaction().execute(async (trx) => {
      const rows = [];
      for (let i = from; i < Math.min(ENTRIES, from + 10_000); i++) {
        const e = event(i);
        const row = { at: 1_795_000_000_000 + i, actor_type: 'user' as const, actor_id: e.actor.id, action: e.action, object_type: 'recording', object_id: e.object.id, care_unit: e.careUnit, patient_pseudonym: e.patientPseudonym, outcome: 'success' as const, request_id: e.requestId, source: e.source, details: JSON.stringify({ role: 'clinician', ...e.details }) };
        rows.push({ ...row, leaf_hash: entryLeafHash(row) });
      }
      for (let k = 0; k < rows.length; k += 500) await trx.insertInto('audit_events').values(rows.slice(k, k + 500)).execute();
    });
  }
  console.log(`filled to ${ENTRIES} entries in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const origin = logOrigin(a.keys.archiveRecipient);
  await (await createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witnessDir: `${dir}-witness` })).checkpoint();
  // Verified as `audit verify` does (this thread and a worker thread per other core), then in one pass as the reference.
  const verify = async (parallel?: { workers: number }) => {
    const t = performance.now();
    const report = await verifyAuditLog({ db: a.db, vkey: auditVerifierKey(origin, a.keys.auditSigningKey()), witnessDir: `${dir}-witness`, parallel });
    if (report.problems.length > 0) throw new Error(`verification failed: ${report.problems[0]}`);
    return { report, s: (performance.now() - t) / 1000 };
  };
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  // Alternated, three runs each, medians: neither way gets the warmer cache.
  const spread: number[] = [];
  const onePass: number[] = [];
  let report = (await verify()).report;
  for (let k = 0; k < 3; k++) {
    const r = await verify();
    report = r.report;
    spread.push(r.s);
    onePass.push((await verify({ workers: 0 })).s);
  }
  const verifyS = median(spread);
  const onePassS = median(onePass);
  console.log(`verify ${report.entries} entries (read, re-hash, rebuild the tree, check the checkpoints), median of 3: ${verifyS.toFixed(2)} s with ${report.threads} threads; ${onePassS.toFixed(2)} s in one pass (reference); ratio ${(onePassS / verifyS).toFixed(2)}`);

  // 3. Inclusion proofs as the API and the CLI answer them (proveEntry: from the catalog's tiles,
  //    the first one building them), against the whole tree held in memory (the reference).
  const t2 = performance.now();
  const first = await proveEntry(a.db, 1 + Math.floor(Math.random() * report.entries));
  const firstProofS = (performance.now() - t2) / 1000;
  const { tree } = await loadTree(a.db, []);
  const times: number[] = [];
  const inMemory: number[] = [];
  for (let k = 0; k < 201; k++) {
    const seq = 1 + Math.floor(Math.random() * tree.size);
    let t = performance.now();
    const p = (await proveEntry(a.db, seq))!;
    const ok = verifyInclusion(Buffer.from(p.leafHash, 'hex'), p.index, p.size!, p.proof!.map((h) => Buffer.from(h, 'hex')), Buffer.from(p.rootHash!, 'hex'));
    times.push(performance.now() - t);
    if (!ok || !first) throw new Error('proof did not verify');
    t = performance.now();
    const proof = tree.inclusionProof(seq - 1);
    if (!verifyInclusion(tree.leaf(seq - 1), seq - 1, tree.size, proof, tree.root())) throw new Error('proof did not verify');
    inMemory.push(performance.now() - t);
  }
  const proofMs = median(times);
  console.log(`inclusion proof + verification in a ${tree.size}-entry log, from the catalog: median ${proofMs.toFixed(3)} ms (the first, building the tiles: ${firstProofS.toFixed(2)} s); from the whole tree in memory (reference): ${median(inMemory).toFixed(3)} ms`);

  // 4. A patient's log extract: the events naming them and those about their calls.
  const extract = async (k: number) => {
    const t = performance.now();
    const rows = await accessEvents(a.db, patientOf(k), [recordingOf(k)]).execute();
    if (rows.length === 0) throw new Error('the extract found nothing');
    return { ms: performance.now() - t, n: rows.length };
  };
  const indexed: number[] = [];
  let found = 0;
  for (let k = 0; k < 21; k++) {
    const r = await extract(k * 97);
    indexed.push(r.ms);
    found = r.n;
  }
  await sql`DROP INDEX audit_patient`.execute(a.db);
  const wholeLog: number[] = [];
  for (let k = 0; k < 3; k++) wholeLog.push((await extract(k * 97)).ms);
  await sql`CREATE INDEX audit_patient ON audit_events (patient_pseudonym, seq) WHERE patient_pseudonym IS NOT NULL`.execute(a.db);
  console.log(`patient log extract (${found} events) in a ${report.entries}-entry log: median ${median(indexed).toFixed(1)} ms; reading the whole log (reference, without the patient index): ${median(wholeLog).toFixed(0)} ms; ratio ${(median(wholeLog) / median(indexed)).toFixed(0)}`);
  // 5. Appends again, into the log that now holds ENTRIES: each event lands on a page of each
  //    lookup index that is no longer one of a few hot ones (what a log years deep sees).
  const groupedFull = await appendsPerSecond((i) => a.audit.record(event(ENTRIES + i)));
  console.log(`durable appends into the ${report.entries}-entry log, ${WRITERS} concurrent writers: group commit ${Math.round(groupedFull)}/s; ${(groupedFull / grouped).toFixed(2)} of the rate into the new log`);
  await a.close();
  console.log(`RESULT audit append_per_s=${Math.round(grouped)} verify_1m_s=${(verifyS * 1_000_000 / report.entries).toFixed(2)} proof_ms=${proofMs.toFixed(3)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
