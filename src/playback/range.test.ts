import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseRange } from './range.ts';

it('parses single byte ranges with an exclusive end', () => {
  assert.deepEqual(parseRange('bytes=0-99', 1000), { kind: 'range', start: 0, end: 100 });
  assert.deepEqual(parseRange('bytes=900-', 1000), { kind: 'range', start: 900, end: 1000 });
  assert.deepEqual(parseRange('bytes=900-5000', 1000), { kind: 'range', start: 900, end: 1000 });
  assert.deepEqual(parseRange('bytes=-10', 1000), { kind: 'range', start: 990, end: 1000 });
  assert.deepEqual(parseRange('bytes=-5000', 1000), { kind: 'range', start: 0, end: 1000 });
});

it('calls a range past the end unsatisfiable', () => {
  assert.deepEqual(parseRange('bytes=1000-', 1000), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=1000-1001', 1000), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=-0', 1000), { kind: 'unsatisfiable' });
  assert.deepEqual(parseRange('bytes=0-', 0), { kind: 'unsatisfiable' });
});

it('ignores what it does not serve as a range', () => {
  for (const h of [undefined, 'bytes=0-1,5-6', 'items=0-1', 'bytes=5-1', 'bytes=-', 'bytes=a-b', 'bytes=9999999999999999-', 'bytes=99999999999999999-']) {
    assert.deepEqual(parseRange(h, 1000), h === 'bytes=9999999999999999-' ? { kind: 'unsatisfiable' } : { kind: 'none' }, String(h));
  }
});
