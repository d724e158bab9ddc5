import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  EMPTY_ROOT,
  MerkleTree,
  TreeBuilder,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from './merkle.ts';

// ---- An independent, deliberately naive reading of RFC 6962 section 2.1 ----------------
function sha(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}
const naiveLeaf = (e: Uint8Array): Buffer => sha(Uint8Array.of(0), e);
const naiveNode = (l: Uint8Array, r: Uint8Array): Buffer => sha(Uint8Array.of(1), l, r);
function largestPow2Below(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
function naiveMth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha();
  if (d.length === 1) return d[0] as Buffer;
  const k = largestPow2Below(d.length);
  return naiveNode(naiveMth(d.slice(0, k)), naiveMth(d.slice(k)));
}
function naivePath(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = largestPow2Below(d.length);
  return m < k
    ? [...naivePath(m, d.slice(0, k)), naiveMth(d.slice(k))]
    : [...naivePath(m - k, d.slice(k)), naiveMth(d.slice(0, k))];
}
function naiveSubproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [naiveMth(d)];
  const k = largestPow2Below(d.length);
  return m <= k
    ? [...naiveSubproof(m, d.slice(0, k), b), naiveMth(d.slice(k))]
    : [...naiveSubproof(m - k, d.slice(k), false), naiveMth(d.slice(0, k))];
}
const naiveProof = (m: number, d: Buffer[]): Buffer[] => (m === 0 || m === d.length ? [] : naiveSubproof(m, d, true));
// -----------------------------------------------------------------------------------------

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const leavesFor = (n: number, salt = 0): Buffer[] => Array.from({ length: n }, (_, i) => naiveLeaf(Buffer.from(`${salt}:${i}`)));
const flipBit = (b: Uint8Array, bit: number): Buffer => {
  const c = Buffer.from(b);
  c[bit >> 3] = (c[bit >> 3] as number) ^ (1 << (bit & 7));
  return c;
};

// certificate-transparency reference vectors (RFC 6962 test data).
const CT_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

test('the empty tree root is SHA-256 of the empty string', () => {
  assert.equal(EMPTY_ROOT.toString('hex'), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.deepEqual(rootOf([]), EMPTY_ROOT);
  assert.deepEqual(new TreeBuilder().root(), EMPTY_ROOT);
  assert.deepEqual(new MerkleTree().root(), EMPTY_ROOT);
});

test('leaf and node hashes use the 0x00 / 0x01 domain prefixes', () => {
  const a = Buffer.from('hello');
  assert.deepEqual(leafHash(a), naiveLeaf(a));
  const l = sha(Buffer.from('l'));
  const r = sha(Buffer.from('r'));
  assert.deepEqual(nodeHash(l, r), naiveNode(l, r));
  assert.notDeepEqual(nodeHash(l, r), nodeHash(r, l));
  assert.throws(() => nodeHash(l, r.subarray(1)));
});

test('certificate-transparency reference roots and proofs', () => {
  const leaves = CT_INPUTS.map(leafHash);
  const tree = MerkleTree.from(leaves);
  const b = new TreeBuilder();
  for (let n = 0; n <= 8; n++) {
    if (n > 0) b.append(leaves[n - 1] as Buffer);
    assert.equal(rootOf(leaves.slice(0, n)).toString('hex'), CT_ROOTS[n], `rootOf ${n}`);
    assert.equal(tree.root(n).toString('hex'), CT_ROOTS[n], `MerkleTree.root ${n}`);
    assert.equal(b.root().toString('hex'), CT_ROOTS[n], `TreeBuilder ${n}`);
  }
  const incl: [number, string[]][] = [
    [0, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
    [5, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  ];
  for (const [i, want] of incl) {
    assert.deepEqual(inclusionProof(leaves, i, 8).map((h) => h.toString('hex')), want);
    assert.ok(verifyInclusion(leaves[i] as Buffer, i, 8, want.map(hex), hex(CT_ROOTS[8] as string)));
  }
  const cons: [number, number, string[]][] = [
    [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
    [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
    [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  ];
  for (const [m, n, want] of cons) {
    assert.deepEqual(consistencyProof(leaves, m, n).map((h) => h.toString('hex')), want);
    assert.ok(verifyConsistency(m, n, hex(CT_ROOTS[m] as string), hex(CT_ROOTS[n] as string), want.map(hex)));
  }
});

test('roots and proofs match the naive RFC 6962 definitions (random sizes 0..300)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300 }), fc.integer(), fc.nat(), fc.nat(), fc.nat(), (n, salt, a, b, c) => {
      const leaves = leavesFor(n, salt);
      const want = naiveMth(leaves);
      assert.deepEqual(rootOf(leaves), want);
      const tree = MerkleTree.from(leaves);
      assert.deepEqual(tree.root(), want);
      const size = a % (n + 1);
      assert.deepEqual(tree.root(size), naiveMth(leaves.slice(0, size)));
      if (size > 0) {
        const i = b % size;
        const p = tree.inclusionProof(i, size);
        assert.deepEqual(p, naivePath(i, leaves.slice(0, size)));
        assert.ok(verifyInclusion(leaves[i] as Buffer, i, size, p, naiveMth(leaves.slice(0, size))));
      }
      const old = c % (size + 1);
      const cp = tree.consistencyProof(old, size);
      assert.deepEqual(cp, naiveProof(old, leaves.slice(0, size)));
      assert.ok(verifyConsistency(old, size, naiveMth(leaves.slice(0, old)), naiveMth(leaves.slice(0, size)), cp));
    }),
    { numRuns: 300 },
  );
});

test('every inclusion and consistency proof verifies for all sizes up to 70', () => {
  const leaves = leavesFor(70);
  const tree = MerkleTree.from(leaves);
  const roots = Array.from({ length: 71 }, (_, n) => naiveMth(leaves.slice(0, n)));
  for (let n = 0; n <= 70; n++) {
    for (let i = 0; i < n; i++) {
      assert.ok(verifyInclusion(leaves[i] as Buffer, i, n, tree.inclusionProof(i, n), roots[n] as Buffer), `incl ${i}/${n}`);
    }
    for (let m = 0; m <= n; m++) {
      assert.ok(verifyConsistency(m, n, roots[m] as Buffer, roots[n] as Buffer, tree.consistencyProof(m, n)), `cons ${m}->${n}`);
    }
  }
});

test('any single change to an inclusion proof, root, leaf, index or size fails', () => {
  const N = 70;
  const leaves = leavesFor(N, 7);
  const tree = MerkleTree.from(leaves);
  const every = new Set([1, 2, 3, 5, 8, 13, 32, 33, 70]);
  const extra = sha(Buffer.from('extra'));
  for (let n = 1; n <= N; n++) {
    const root = tree.root(n);
    for (let i = 0; i < n; i++) {
      const leaf = leaves[i] as Buffer;
      const p = tree.inclusionProof(i, n);
      const bad = (what: string, ok: boolean): void => assert.equal(ok, false, `${what} at ${i}/${n}`);
      // Every bit for some sizes, one bit per byte position cycle otherwise.
      const bits = (k: number): number[] => (every.has(n) ? Array.from({ length: 256 }, (_, b) => b) : [(i * 37 + k * 11 + n) % 256]);
      for (let k = 0; k < p.length; k++) {
        for (const bit of bits(k)) bad(`proof[${k}] bit ${bit}`, verifyInclusion(leaf, i, n, p.with(k, flipBit(p[k] as Buffer, bit)), root));
      }
      for (const bit of bits(100)) {
        bad(`root bit ${bit}`, verifyInclusion(leaf, i, n, p, flipBit(root, bit)));
        bad(`leaf bit ${bit}`, verifyInclusion(flipBit(leaf, bit), i, n, p, root));
      }
      for (let k = 0; k < p.length; k++) bad(`drop ${k}`, verifyInclusion(leaf, i, n, p.toSpliced(k, 1), root));
      for (let k = 0; k <= p.length; k++) bad(`insert ${k}`, verifyInclusion(leaf, i, n, p.toSpliced(k, 0, extra), root));
      for (let k = 0; k + 1 < p.length; k++) {
        if (!(p[k] as Buffer).equals(p[k + 1] as Buffer)) bad(`swap ${k}`, verifyInclusion(leaf, i, n, p.toSpliced(k, 2, p[k + 1] as Buffer, p[k] as Buffer), root));
      }
      for (let j = 0; j <= n; j++) if (j !== i) bad(`index ${j}`, verifyInclusion(leaf, j, n, p, root));
      bad('index -1', verifyInclusion(leaf, -1, n, p, root));
      // The root alone does not fix the size (a size-3 path also walks a size-4 shape to the
      // same value); the size is bound by the signed checkpoint. Against the real root of the
      // other size, the proof must fail.
      for (const m of [n - 1, n + 1]) if (m > i && m <= N) bad(`size ${m}`, verifyInclusion(leaf, i, m, p, tree.root(m)));
      bad('other leaf', verifyInclusion(leaves[(i + 1) % N] as Buffer, i, n, p, root));
    }
  }
});

test('any single change to a consistency proof, either root or either size fails', () => {
  const N = 40;
  const leaves = leavesFor(N, 3);
  const tree = MerkleTree.from(leaves);
  const roots = Array.from({ length: N + 1 }, (_, n) => tree.root(n));
  const every = new Set([1, 2, 3, 4, 7, 8, 9, 16, 17, 33, 40]);
  const extra = sha(Buffer.from('extra'));
  for (let n = 1; n <= N; n++) {
    for (let m = 0; m <= n; m++) {
      const r1 = roots[m] as Buffer;
      const r2 = roots[n] as Buffer;
      const p = tree.consistencyProof(m, n);
      const bad = (what: string, ok: boolean): void => assert.equal(ok, false, `${what} at ${m}->${n}`);
      const bits = (k: number): number[] => (every.has(n) ? Array.from({ length: 256 }, (_, b) => b) : [(m * 37 + k * 11 + n) % 256]);
      for (let k = 0; k < p.length; k++) {
        for (const bit of bits(k)) bad(`proof[${k}] bit ${bit}`, verifyConsistency(m, n, r1, r2, p.with(k, flipBit(p[k] as Buffer, bit))));
      }
      for (const bit of bits(100)) {
        bad(`old root bit ${bit}`, verifyConsistency(m, n, flipBit(r1, bit), r2, p));
        // From the empty tree every new root is consistent: nothing to check there.
        if (m > 0) bad(`new root bit ${bit}`, verifyConsistency(m, n, r1, flipBit(r2, bit), p));
      }
      for (let k = 0; k < p.length; k++) bad(`drop ${k}`, verifyConsistency(m, n, r1, r2, p.toSpliced(k, 1)));
      for (let k = 0; k <= p.length; k++) bad(`insert ${k}`, verifyConsistency(m, n, r1, r2, p.toSpliced(k, 0, extra)));
      for (let k = 0; k + 1 < p.length; k++) {
        if (!(p[k] as Buffer).equals(p[k + 1] as Buffer)) bad(`swap ${k}`, verifyConsistency(m, n, r1, r2, p.toSpliced(k, 2, p[k + 1] as Buffer, p[k] as Buffer)));
      }
      // As with inclusion, the roots do not fix the sizes: test against the real roots.
      // (Skipped only where p is also the genuine proof of the changed claim, e.g. [] for 0->1 and 1->1.)
      const same = (q: Buffer[]): boolean => q.length === p.length && q.every((h, k) => h.equals(p[k] as Buffer));
      for (const m2 of [m - 1, m + 1]) if (m2 >= 0 && m2 <= n && !same(tree.consistencyProof(m2, n))) bad(`old size ${m2}`, verifyConsistency(m2, n, roots[m2] as Buffer, r2, p));
      for (const n2 of [n - 1, n + 1]) if (n2 >= m && n2 <= N && !same(tree.consistencyProof(m, n2))) bad(`new size ${n2}`, verifyConsistency(m, n2, r1, roots[n2] as Buffer, p));
      bad('swapped sizes', m === n ? false : verifyConsistency(n, m, r2, r1, p));
    }
  }
});

test('range and argument checks', () => {
  const tree = MerkleTree.from(leavesFor(5));
  assert.throws(() => tree.root(6), RangeError);
  assert.throws(() => tree.inclusionProof(5, 5), RangeError);
  assert.throws(() => tree.consistencyProof(4, 3), RangeError);
  assert.throws(() => tree.inclusionProof(1.5, 5), RangeError);
  assert.throws(() => tree.append(Buffer.alloc(31)));
  assert.throws(() => new TreeBuilder().append(Buffer.alloc(33)));
  assert.equal(verifyInclusion(Buffer.alloc(32), 0, 0, [], EMPTY_ROOT), false);
  assert.equal(verifyConsistency(3, 2, EMPTY_ROOT, EMPTY_ROOT, []), false);
  assert.equal(verifyConsistency(0, 2, Buffer.alloc(32), tree.root(2), []), false);
  assert.equal(verifyConsistency(0, 2, EMPTY_ROOT, tree.root(2), []), true);
  assert.equal(verifyConsistency(2, 2, tree.root(2), tree.root(2), [tree.root(2)]), false);
});

test('timing: 1,000,000 entries (printed, not asserted)', () => {
  const N = 1_000_000;
  const entry = Buffer.alloc(200, 0x61);
  let t = performance.now();
  const leaves: Buffer[] = new Array(N);
  for (let i = 0; i < N; i++) {
    entry.writeUInt32BE(i, 0);
    leaves[i] = leafHash(entry);
  }
  const tLeaves = performance.now() - t;
  t = performance.now();
  const b = new TreeBuilder();
  for (const l of leaves) b.append(l);
  const streamed = b.root();
  const tStream = performance.now() - t;
  t = performance.now();
  const tree = MerkleTree.from(leaves);
  const tTree = performance.now() - t;
  assert.deepEqual(tree.root(), streamed);
  t = performance.now();
  const P = 1000;
  for (let k = 0; k < P; k++) {
    const i = (k * 7919) % N;
    const size = N - (k % 3);
    const m = Math.max(1, (k * 104729) % size);
    const ip = tree.inclusionProof(i, size);
    const cp = tree.consistencyProof(m, size);
    if (k < 20) {
      assert.ok(verifyInclusion(leaves[i] as Buffer, i, size, ip, tree.root(size)));
      assert.ok(verifyConsistency(m, size, tree.root(m), tree.root(size), cp));
    }
  }
  const tProofs = performance.now() - t;
  console.log(
    `merkle 1M: leaf hashes ${tLeaves.toFixed(0)} ms, streamed root (TreeBuilder) ${tStream.toFixed(0)} ms, ` +
      `verify total ${(tLeaves + tStream).toFixed(0)} ms; MerkleTree build ${tTree.toFixed(0)} ms; ` +
      `${P} inclusion + ${P} consistency proofs ${tProofs.toFixed(0)} ms`,
  );
});
