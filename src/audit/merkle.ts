// RFC 6962 / RFC 9162 Merkle tree hashing, inclusion and consistency proofs.
//
// Invariants (written from RFC 6962 section 2.1 and RFC 9162 section 2.1):
// - leaf hash  = SHA-256(0x00 || entry); node hash = SHA-256(0x01 || left || right).
//   The prefixes keep a leaf from ever being read as an interior node (second preimage).
// - MTH({}) = SHA-256(""); MTH of n > 1 leaves splits at k, the largest power of two < n.
// - Every subtree the RFC recursion touches starts at an offset that is a multiple of the
//   smallest power of two >= its width, so its hash is the right-to-left fold of the
//   complete (power-of-two, aligned) subtrees it decomposes into. `MerkleTree` stores
//   those complete subtrees, which makes roots and proofs O(log^2 n) hashes at any size.
// - Tree sizes and indexes are plain numbers up to Number.MAX_SAFE_INTEGER; the bit
//   arithmetic below is done with division, never 32-bit operators.
import { hash } from 'node:crypto';

export const HASH_SIZE = 32;

const nodeScratch = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeScratch[0] = 0x01;

/**
 * SHA-256 as a Buffer. The digest is taken as 'binary' (latin1) text, one character per byte, and
 * copied into a buffer from Node's pool: a 'buffer' digest gets a fresh backing store of its own,
 * which costs three times the hash itself (1.1 us against 0.33 us for a node hash here), and the
 * log's verification makes two hashes per entry.
 */
function sha256(data: Uint8Array | string): Buffer {
  return Buffer.from(hash('sha256', data, 'binary'), 'binary');
}

/** SHA-256 of the empty string: the root of the tree with no leaves. */
export const EMPTY_ROOT: Buffer = sha256(new Uint8Array(0));

/** RFC 6962 leaf hash: SHA-256(0x00 || entry). */
let leafScratch = Buffer.alloc(1024);

export function leafHash(entry: Uint8Array): Buffer {
  if (entry.length + 1 > leafScratch.length) leafScratch = Buffer.alloc(2 ** Math.ceil(Math.log2(entry.length + 1)));
  leafScratch[0] = 0x00;
  leafScratch.set(entry, 1);
  return sha256(leafScratch.subarray(0, entry.length + 1));
}

/** The leaf hash of an entry given as text: its UTF-8 bytes, as leafHash(Buffer.from(text)), without copying them into a buffer first. */
export function leafHashOfText(text: string): Buffer {
  return sha256(`\0${text}`);
}

/** RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) throw new Error('node hash inputs must be 32 bytes');
  nodeScratch.set(left, 1);
  nodeScratch.set(right, 1 + HASH_SIZE);
  return sha256(nodeScratch);
}

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative safe integer`);
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

function isPowerOfTwo(n: number): boolean {
  let x = n;
  while (x > 1 && x % 2 === 0) x /= 2;
  return x === 1;
}

/** Largest power of two strictly less than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Streaming tree head: keeps only the frontier (one complete-subtree hash per set bit of
 * the size), so O(log n) memory and one node hash per append, amortised.
 */
export class TreeBuilder {
  #stack: Buffer[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) throw new Error('append takes a 32-byte leaf hash');
    let n = this.#size;
    // Each trailing 1 bit of the old size is a complete subtree that now has a sibling.
    if (!isOdd(n)) {
      this.#stack.push(Buffer.from(leaf));
    } else {
      let h = nodeHash(this.#stack.pop() as Buffer, leaf);
      n = half(n);
      while (isOdd(n)) {
        h = nodeHash(this.#stack.pop() as Buffer, h);
        n = half(n);
      }
      this.#stack.push(h);
    }
    this.#size += 1;
  }

  /** MTH of everything appended so far. */
  root(): Buffer {
    return rootOfFrontier(this.#stack);
  }

  /**
   * The complete subtrees appended so far, largest (leftmost) first: one per set bit of the
   * size. Frontiers of adjacent aligned ranges concatenate (see rootOfFrontier).
   */
  frontier(): Buffer[] {
    return [...this.#stack];
  }
}

/**
 * The root of a tree given as its complete subtrees, left to right, each aligned at a multiple
 * of its own width and wider than every subtree after it: the right-to-left fold. The frontier of
 * [0, a) followed by the frontier of [a, a + r), where a is a multiple of a power of two above r,
 * is the frontier of [0, a + r).
 */
export function rootOfFrontier(stack: readonly Buffer[]): Buffer {
  if (stack.length === 0) return Buffer.from(EMPTY_ROOT);
  let h = stack[stack.length - 1] as Buffer;
  for (let i = stack.length - 2; i >= 0; i--) h = nodeHash(stack[i] as Buffer, h);
  return h;
}

/** A growable array of 32-byte hashes in one contiguous buffer. */
class HashArray {
  #buf = Buffer.alloc(HASH_SIZE * 16);
  length = 0;

  push(h: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.#buf.length) {
      const bigger = Buffer.alloc(this.#buf.length * 2);
      this.#buf.copy(bigger);
      this.#buf = bigger;
    }
    this.#buf.set(h, this.length * HASH_SIZE);
    this.length += 1;
  }

  at(i: number): Buffer {
    return this.#buf.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }
}

/**
 * An in-memory tree over leaf hashes that caches every complete subtree hash
 * (about 2n hashes, 64 bytes per leaf). Appending costs one node hash amortised;
 * roots and proofs for any size <= `size` cost O(log^2 n) hashes.
 */
export class MerkleTree {
  #levels: HashArray[] = [new HashArray()];

  static from(leaves: readonly Uint8Array[], size = leaves.length): MerkleTree {
    checkSize(size, 'size');
    if (size > leaves.length) throw new RangeError('size exceeds the number of leaves');
    const t = new MerkleTree();
    for (let i = 0; i < size; i++) t.append(leaves[i] as Uint8Array);
    return t;
  }

  get size(): number {
    return (this.#levels[0] as HashArray).length;
  }

  append(leaf: Uint8Array): void {
    if (leaf.length !== HASH_SIZE) throw new Error('append takes a 32-byte leaf hash');
    let level = 0;
    let h: Uint8Array = leaf;
    for (;;) {
      const arr = this.#levels[level] as HashArray;
      arr.push(h);
      const i = arr.length - 1;
      if (!isOdd(i)) return;
      h = nodeHash(arr.at(i - 1), arr.at(i));
      level += 1;
      if (this.#levels.length === level) this.#levels.push(new HashArray());
    }
  }

  /** Leaf hash at index. */
  leaf(index: number): Buffer {
    checkSize(index, 'index');
    if (index >= this.size) throw new RangeError('index out of range');
    return Buffer.from((this.#levels[0] as HashArray).at(index));
  }

  /** MTH of the first `size` leaves. */
  root(size = this.size): Buffer {
    this.#checkTreeSize(size);
    return size === 0 ? Buffer.from(EMPTY_ROOT) : this.#range(0, size);
  }

  /** RFC 6962 PATH(index, D[0:size]), leaf to root order. */
  inclusionProof(index: number, size = this.size): Buffer[] {
    this.#checkTreeSize(size);
    checkSize(index, 'index');
    if (index >= size) throw new RangeError('index must be less than size');
    const out: Buffer[] = [];
    this.#path(index, 0, size, out);
    return out;
  }

  /** RFC 6962 PROOF(oldSize, D[0:newSize]); empty when oldSize is 0 or equals newSize. */
  consistencyProof(oldSize: number, newSize = this.size): Buffer[] {
    this.#checkTreeSize(newSize);
    checkSize(oldSize, 'oldSize');
    if (oldSize > newSize) throw new RangeError('oldSize must not exceed newSize');
    const out: Buffer[] = [];
    if (oldSize > 0 && oldSize < newSize) this.#subproof(oldSize, 0, newSize, true, out);
    return out;
  }

  #checkTreeSize(size: number): void {
    checkSize(size, 'size');
    if (size > this.size) throw new RangeError(`size ${size} exceeds the tree size ${this.size}`);
  }

  /**
   * The hash of the complete subtree of `width` leaves (a power of two) starting at `pos`, a
   * multiple of `width`, within the leaves appended so far.
   */
  complete(pos: number, width: number): Buffer {
    const level = Math.log2(width);
    if (!Number.isInteger(level) || pos % width !== 0 || pos + width > this.size) throw new RangeError(`no complete subtree of ${width} at ${pos}`);
    return Buffer.from((this.#levels[level] as HashArray).at(pos / width));
  }

  /** MTH(D[lo:hi]) for an RFC-aligned range: fold of its complete subtrees. */
  #range(lo: number, hi: number): Buffer {
    return Buffer.from(rootOfFrontier(rangeParts(lo, hi).map((p) => (this.#levels[Math.log2(p.width)] as HashArray).at(p.pos / p.width))));
  }

  #path(m: number, lo: number, n: number, out: Buffer[]): void {
    for (const parts of pathPlan(m, lo, n)) out.push(this.#range(parts.lo, parts.hi));
  }

  #subproof(m: number, lo: number, n: number, whole: boolean, out: Buffer[]): void {
    if (m === n) {
      if (!whole) out.push(this.#range(lo, lo + n));
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      this.#subproof(m, lo, k, whole, out);
      out.push(this.#range(lo + k, lo + n));
    } else {
      this.#subproof(m - k, lo + k, n - k, false, out);
      out.push(this.#range(lo, lo + k));
    }
  }
}

/** A complete (power-of-two, aligned) subtree: `width` leaves from `pos`. */
export interface Complete {
  pos: number;
  width: number;
}

/**
 * The complete subtrees an RFC-aligned range D[lo:hi] folds from (rootOfFrontier), widest
 * first: at each step the widest aligned subtree that starts there and fits.
 */
export function rangeParts(lo: number, hi: number): Complete[] {
  const parts: Complete[] = [];
  let pos = lo;
  while (pos < hi) {
    let width = 1;
    while (pos % (width * 2) === 0 && pos + width * 2 <= hi) width *= 2;
    parts.push({ pos, width });
    pos += width;
  }
  return parts;
}

/**
 * RFC 6962 PATH(m, D[lo:lo+n]) as the ranges whose hashes make it, leaf to root order: each is
 * an RFC-aligned range to be folded from rangeParts. Lets a proof be answered from subtree
 * hashes kept anywhere (MerkleTree in memory, proofs.ts over the catalog).
 */
export function pathPlan(m: number, lo: number, n: number): Array<{ lo: number; hi: number }> {
  const out: Array<{ lo: number; hi: number }> = [];
  for (;;) {
    if (n <= 1) return out.reverse();
    const k = splitPoint(n);
    if (m < k) {
      out.push({ lo: lo + k, hi: lo + n });
      n = k;
    } else {
      out.push({ lo, hi: lo + k });
      m -= k;
      lo += k;
      n -= k;
    }
  }
}

/** MTH of leaf hashes (streams through a TreeBuilder: O(n) hashes, O(log n) memory). */
export function rootOf(leaves: Iterable<Uint8Array>): Buffer {
  const b = new TreeBuilder();
  for (const l of leaves) b.append(l);
  return b.root();
}

/**
 * Inclusion proof from a stored array of leaf hashes. Builds a MerkleTree first, so this
 * costs O(size) hashes; keep a MerkleTree around to answer many proofs in O(log^2 n).
 */
export function inclusionProof(leaves: readonly Uint8Array[], index: number, size = leaves.length): Buffer[] {
  return MerkleTree.from(leaves, size).inclusionProof(index, size);
}

/** Consistency proof from stored leaf hashes; O(newSize) hashes (see inclusionProof). */
export function consistencyProof(leaves: readonly Uint8Array[], oldSize: number, newSize = leaves.length): Buffer[] {
  return MerkleTree.from(leaves, newSize).consistencyProof(oldSize, newSize);
}

function checkProof(proof: readonly Uint8Array[]): boolean {
  return proof.every((p) => p.length === HASH_SIZE);
}

/** RFC 9162 section 2.1.3.2. Returns false on any mismatch or malformed input. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return false;
  if (leaf.length !== HASH_SIZE || root.length !== HASH_SIZE || !checkProof(proof)) return false;
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(r, root);
}

/**
 * RFC 9162 section 2.1.4.2, plus the edge cases the RFC leaves to the caller:
 * equal sizes need an empty proof and equal roots; oldSize 0 needs an empty proof and
 * oldRoot = SHA-256("") (any newer tree extends the empty one).
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) return false;
  if (oldRoot.length !== HASH_SIZE || newRoot.length !== HASH_SIZE || !checkProof(proof)) return false;
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0 && bytesEqual(oldRoot, EMPTY_ROOT);
  if (proof.length === 0) return false;

  // If oldSize is a power of two, the old root is itself a node on the path.
  const path: readonly Uint8Array[] = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = Buffer.from(path[0] as Uint8Array);
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}
