// The comparison of signed checkpoints with the rebuilt tree, at the scale of a log signed every
// minute for years: hundreds of thousands of checkpoints in the catalog and in the witness.
// (Before, the rollback check spread every witness size into Math.max, which throws past about
// 120,000 arguments, and each size was looked up by scanning the whole list.)
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { compareWithCheckpoints, type Signed } from './verify.ts';

const rootAt = (size: number) => createHash('sha256').update(`root ${size}`).digest();

describe('compareWithCheckpoints', () => {
  const N = 200_000;
  const signed: Signed[] = [];
  for (let size = 1; size <= N; size++) {
    signed.push({ size, root: rootAt(size), where: `catalog checkpoint of size ${size}` });
    signed.push({ size, root: rootAt(size), where: `witness checkpoint of size ${size}` });
  }
  const roots = new Map<number, Buffer>();
  const seqAt = new Map<number, number>();
  for (let size = 1; size <= N; size++) {
    roots.set(size, rootAt(size));
    seqAt.set(size, size);
  }

  it('matches 400,000 checkpoints at 200,000 sizes without a problem, the latest in the witness', () => {
    const problems: string[] = [];
    const latest = compareWithCheckpoints(signed, N, { entries: N, roots, seqAt }, problems);
    assert.deepEqual(problems, []);
    assert.deepEqual(latest, { size: N, where: 'witness' });
  });

  it('names a checkpoint that does not match, a rollback and a truncation among them', () => {
    const problems: string[] = [];
    const tampered = new Map(roots);
    tampered.set(123_456, rootAt(0));
    const more: Signed[] = [...signed, { size: N + 5, root: rootAt(N + 5), where: `witness checkpoint of size ${N + 5}` }];
    compareWithCheckpoints(more, N, { entries: N, roots: tampered, seqAt }, problems);
    assert.ok(problems.includes(`checkpoints were rolled back: the witness holds size ${N + 5}, the catalog's latest is ${N}`), problems.join('\n'));
    assert.ok(problems.includes(`the log was truncated: witness checkpoint of size ${N + 5} covers ${N + 5} entries, the log has ${N}`));
    assert.ok(problems.includes('catalog checkpoint of size 123456 does not match the log: an entry between 123456 and 123456 was altered, removed, inserted or moved'), problems.join('\n'));
    assert.equal(problems.length, 4, 'the catalog and witness copies at 123456, the rollback and the truncation');
  });
});
