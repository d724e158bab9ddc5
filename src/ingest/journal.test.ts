import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileEventsOf } from '../../test/helpers/strace.ts';
import { decodeRecords, encodeRecord, Journal, journalFiles, readJournal, RECORD, type JournalRecord } from './journal.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'cv-journal-'));
  dirs.push(d);
  return d;
}

const rec = (i: number, size = 100): JournalRecord => ({
  type: RECORD.delta, uploadId: randomBytes(16).toString('hex'), offset: i * 1000, chunks: i, payload: randomBytes(size),
});

it('encodes and decodes records, and stops at a torn or corrupted tail', () => {
  const rs = [rec(1), rec(2, 0), { ...rec(3), type: RECORD.base }, { ...rec(4, 0), type: RECORD.base }];
  const buf = Buffer.concat(rs.map(encodeRecord));
  assert.deepEqual(decodeRecords(buf).records, rs);
  const cut = decodeRecords(buf.subarray(0, buf.length - 3));
  assert.equal(cut.records.length, 3);
  assert.equal(cut.torn, false, 'an incomplete last record is simply not there yet');
  const flipped = Buffer.from(buf);
  flipped[encodeRecord(rs[0]!).length + 20]! ^= 1;
  const bad = decodeRecords(flipped);
  assert.equal(bad.records.length, 1);
  assert.equal(bad.torn, true);
});

it('group-commits concurrent appends: far fewer flushes than records, all durable and in order', async () => {
  const dir = await tmp();
  const j = await Journal.open(dir);
  const rs = Array.from({ length: 2000 }, (_, i) => rec(i, 50));
  await Promise.all(rs.map((r) => j.append(encodeRecord(r))));
  assert.equal(j.stats.records, 2000);
  assert.ok(j.stats.flushes < 200, `${j.stats.flushes} flushes for 2000 records`);
  await j.close();
  const back: JournalRecord[] = [];
  for await (const r of readJournal(dir)) back.push({ type: r.type, uploadId: r.uploadId, offset: r.offset, chunks: r.chunks, payload: r.payload });
  assert.deepEqual(back, rs);
});

it('replays generations in order across rotation, and retires old files', async () => {
  const dir = await tmp();
  const j = await Journal.open(dir);
  await j.append(encodeRecord(rec(1)));
  const old = await j.rotate();
  await j.append(encodeRecord(rec(2)));
  const gens: number[] = [];
  for await (const r of readJournal(dir)) gens.push(r.gen);
  assert.deepEqual(gens, [1, 2]);
  await j.retire(old);
  assert.deepEqual((await journalFiles(dir)).map((f) => f.gen), [2]);
  await j.close();
  // A restart opens a new generation after the existing ones.
  const j2 = await Journal.open(dir);
  assert.equal(j2.generation, 3);
  await j2.close();
});

it('records appended while a rotation is under way are all kept, none lost in a gap at the head of the new file', async () => {
  const dir = await tmp();
  const j = await Journal.open(dir);
  const rs = Array.from({ length: 60 }, (_, i) => rec(i + 1, 64));
  const acked: Array<Promise<void>> = [];
  await j.append(encodeRecord(rs[0]!));
  // Appends keep coming, from every turn of the event loop, while the rotation runs.
  let i = 1;
  const rotations: Array<Promise<number[]>> = [];
  await new Promise<void>((done) => {
    const tick = () => {
      acked.push(j.append(encodeRecord(rs[i]!)));
      if (i === 5 || i === 30) rotations.push(j.rotate());
      if (++i < rs.length) setImmediate(tick);
      else done();
    };
    tick();
  });
  await Promise.all(acked);
  const older = await Promise.all(rotations);
  await j.close();
  // Every file decodes whole (no torn head), and replay gives back every record in order.
  for (const f of await journalFiles(dir)) {
    assert.equal(decodeRecords(await readFile(f.path)).torn, false, `generation ${f.gen} decodes whole`);
  }
  const back: number[] = [];
  for await (const r of readJournal(dir)) back.push(r.offset);
  assert.deepEqual(back, rs.map((r) => r.offset));
  // Retiring what came before the last rotation leaves the records after it, in order.
  await j.retire(older.at(-1)!);
  const rest: number[] = [];
  for await (const r of readJournal(dir)) rest.push(r.offset);
  assert.ok(rest.length > 0);
  assert.deepEqual(rest, rs.map((r) => r.offset).slice(-rest.length));
});

it('a torn tail left by a crash ends replay of that file only', async () => {
  const dir = await tmp();
  const j = await Journal.open(dir);
  await j.append(encodeRecord(rec(1)));
  await j.append(encodeRecord(rec(2)));
  await j.close();
  const [file] = await readdir(dir);
  await appendFile(join(dir, file!), randomBytes(30));
  const j2 = await Journal.open(dir);
  await j2.append(encodeRecord(rec(3)));
  await j2.close();
  const offsets: number[] = [];
  for await (const r of readJournal(dir)) offsets.push(r.offset);
  assert.deepEqual(offsets, [1000, 2000, 3000]);
  await truncate(join(dir, file!), 10);
  const after: number[] = [];
  for await (const r of readJournal(dir)) after.push(r.offset);
  assert.deepEqual(after, [3000]);
});

it('fails closed once a write fails: the append rejects', async () => {
  const dir = await tmp();
  const j = await Journal.open(dir);
  await j.close(); // the file handle is gone: the next flush fails
  await assert.rejects(j.append(encodeRecord(rec(1))));
  await assert.rejects(j.append(encodeRecord(rec(2))));
});

it('makes a new file\'s name durable (the directory fsync\'d) before anything is written to it, at open and at each rotation', async () => {
  // Watched from outside with strace: which system calls the journal makes, in their order.
  const dir = await tmp();
  const script = `import { Journal, encodeRecord, RECORD } from ${JSON.stringify(new URL('./journal.ts', import.meta.url).href)};
    const r = () => encodeRecord({ type: RECORD.delta, uploadId: 'a'.repeat(32), offset: 0, chunks: 0, payload: Buffer.alloc(10) });
    const j = await Journal.open(process.argv[1]);
    await j.append(r());
    await j.rotate();
    await j.append(r());
    await j.close();`;
  const events = fileEventsOf(script, [dir]);
  const files = [...new Set(events.filter((e) => e.startsWith(`open ${dir}/journal-`)).map((e) => e.slice('open '.length)))];
  const writes = files.filter((f) => events.includes(`write ${f}`));
  for (const f of writes) {
    const opened = events.indexOf(`open ${f}`);
    const named = events.indexOf(`sync ${dir}`, opened);
    assert.ok(named > opened && named < events.indexOf(`write ${f}`), `${f} was written before the directory holding its name was fsync'd`);
  }
  assert.equal(writes.length, 2, 'both files (the first and the rotated one) were written');
});
