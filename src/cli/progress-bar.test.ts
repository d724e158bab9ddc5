import assert from 'node:assert/strict';
import { it } from 'node:test';
import { bar, createMigrationDisplay } from './progress-bar.ts';

function sink(isTTY: boolean) {
  const written: string[] = [];
  return { written, stream: { isTTY, columns: 100, write: (s: string) => written.push(s) > 0 } };
}

it('draws a bar in place on a terminal, one line per table', () => {
  assert.equal(bar(1, 4), `[${'#'.repeat(6)}${'.'.repeat(18)}]  25%`);
  assert.equal(bar(0, 0), `[${'#'.repeat(24)}] 100%`);
  const { written, stream } = sink(true);
  const d = createMigrationDisplay(stream);
  d.table({ table: 'users', done: 0, total: 2000 });
  d.table({ table: 'users', done: 1000, total: 2000 });
  d.table({ table: 'users', done: 2000, total: 2000 });
  d.done();
  const text = written.join('');
  assert.ok(text.includes(`\r  users                [${'#'.repeat(12)}${'.'.repeat(12)}]  50%  1,000/2,000 rows\u001b[K`), text);
  assert.equal(text.split('\n').length, 2, 'the finished table ends its line');
});

it('writes plain lines elsewhere: one per table, objects every few seconds and at the end', () => {
  let t = 0;
  const { written, stream } = sink(false);
  const d = createMigrationDisplay(stream, { plainEveryMs: 5000, now: () => t });
  d.table({ table: 'users', done: 1, total: 2 });
  d.table({ table: 'users', done: 2, total: 2 });
  for (let i = 0; i <= 10; i++) {
    t = i * 1000;
    d.blobs({ objects: i, totalObjects: 10, bytes: i * 1e6, totalBytes: 10e6 });
  }
  assert.deepEqual(written.filter((l) => !l.includes('\r')).length, written.length, 'no carriage returns');
  assert.equal(written[0], '  users: 2 rows copied\n');
  assert.equal(written.length, 1 + 3);
  assert.match(written.at(-1)!, /10\/10 objects, 10\.0 MB of 10\.0 MB, every one verified\n$/);
});
