// A small deterministic pseudo-random generator (xorshift32) for synthetic test and demo audio.
// Not for anything secret: keys and nonces come from node:crypto.

/** Returns successive 32-bit unsigned values from `seed` (0 is replaced: xorshift needs a non-zero state). */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}
