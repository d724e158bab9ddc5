// Thin wrappers over node:crypto for the primitives age needs: HKDF-SHA-256 and
// ChaCha20-Poly1305 (RFC 8439, 16-byte tags).
//
// Invariants:
// - aeadOpen returns plaintext only after the tag verified; on failure the
//   unverified output is wiped and null is returned (callers decide the error);
// - every HKDF output is 32 bytes, as the age spec requires.

import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** A raw 32-byte key, or a secret KeyObject (much cheaper per cipher: ~2 us vs ~12 us setup on Node 24). */
export type AeadKey = Uint8Array | KeyObject;

export const TAG_SIZE = 16;
export const ZERO_NONCE: Buffer = Buffer.alloc(12);

export function hkdf32(ikm: Uint8Array, salt: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

/** ChaCha20-Poly1305 seal into `out` at `pos` (ciphertext then tag); returns bytes written. */
export function aeadSealInto(key: AeadKey, nonce: Uint8Array, plaintext: Uint8Array, out: Buffer, pos: number, aad?: Uint8Array): number {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  if (aad) cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const ct = cipher.update(plaintext);
  cipher.final();
  ct.copy(out, pos);
  cipher.getAuthTag().copy(out, pos + ct.length);
  return ct.length + TAG_SIZE;
}

export function aeadSeal(key: AeadKey, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + TAG_SIZE);
  aeadSealInto(key, nonce, plaintext, out, 0);
  return out;
}

/** ChaCha20-Poly1305 open of ciphertext||tag; null if too short or not authentic. */
export function aeadOpen(key: AeadKey, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Buffer | null {
  if (sealed.length < TAG_SIZE) return null;
  const split = sealed.length - TAG_SIZE;
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  if (aad) decipher.setAAD(aad, { plaintextLength: split });
  decipher.setAuthTag(sealed.subarray(split));
  const pt = decipher.update(sealed.subarray(0, split));
  try {
    decipher.final();
  } catch {
    pt.fill(0); // never let unverified plaintext escape, not even by accident
    return null;
  }
  return pt;
}
