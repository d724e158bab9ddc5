// Small sealed metadata fields (e.g. caller/callee numbers) tied to one recording.
//
//   field root = HKDF-SHA-256(ikm = file key, salt = empty, info "callvault/v1/fields")
//   field key  = HKDF-SHA-256(ikm = field root, salt = empty, info "callvault/v1/field:" || label)
//   sealed     = 0x01 || nonce (12 random bytes) || ChaCha20-Poly1305(field key, nonce, value)
//
// Invariants:
// - a field opens only with its own recording's file key (which only an identity holder
//   can unwrap) and under its own label, so fields cannot be swapped between recordings
//   or between labels; destroying the header (erasure) makes the fields unreadable too;
// - the sealer keeps the field root, never the file key, and wipes it on destroy();
// - random 96-bit nonces: a handful of fields per key, far from any collision bound.

import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { aeadOpen, aeadSealInto, hkdf32, TAG_SIZE } from './aead.ts';
import { SealError } from './errors.ts';

const VERSION = 0x01;
const LABEL = /^[A-Za-z0-9_.-]{1,64}$/;
const EMPTY = Buffer.alloc(0);

export function deriveFieldRoot(fileKey: Uint8Array): Buffer {
  return hkdf32(fileKey, EMPTY, 'callvault/v1/fields');
}

function fieldKey(root: Uint8Array, label: string): Buffer {
  if (!LABEL.test(label)) throw new SealError('bad-options', 'field label must be 1..64 characters of [A-Za-z0-9_.-]');
  return hkdf32(root, EMPTY, 'callvault/v1/field:' + label);
}

/**
 * Seals many fields of one recording cheaply (journal records: one per PATCH): each label's
 * key is derived once and kept as a KeyObject; nonces are an 8-byte random prefix drawn per
 * instance and a 4-byte counter, so they never repeat within an instance, and two instances
 * over the same file key (a resumed recording) collide with probability 2^-64.
 */
export class FieldSealer {
  #root: Buffer | null;
  #keys = new Map<string, KeyObject>();
  #prefix = randomBytes(8);
  #counter = 0;

  constructor(root: Buffer) {
    this.#root = root;
  }

  #key(label: string): KeyObject {
    if (this.#root === null) throw new SealError('bad-state', 'sealer was destroyed');
    let k = this.#keys.get(label);
    if (!k) {
      const raw = fieldKey(this.#root, label);
      k = createSecretKey(raw);
      raw.fill(0);
      this.#keys.set(label, k);
    }
    return k;
  }

  /** `aad`, if given, is authenticated but not stored: the same bytes are needed to open. */
  seal(label: string, value: Uint8Array, aad?: Uint8Array): Buffer {
    const key = this.#key(label);
    if (this.#counter === 0xffffffff) {
      this.#prefix = randomBytes(8);
      this.#counter = 0;
    }
    const out = Buffer.allocUnsafe(13 + value.length + TAG_SIZE);
    out[0] = VERSION;
    this.#prefix.copy(out, 1);
    out.writeUInt32BE(this.#counter++, 9);
    aeadSealInto(key, out.subarray(1, 13), value, out, 13, aad);
    return out;
  }

  open(label: string, sealed: Uint8Array, aad?: Uint8Array): Buffer {
    const value = sealed.length >= 13 && sealed[0] === VERSION ? aeadOpen(this.#key(label), sealed.subarray(1, 13), sealed.subarray(13), aad) : null;
    if (value === null) throw new SealError('field-auth', 'sealed field does not open under this recording and label');
    return value;
  }

  destroy(): void {
    this.#root?.fill(0);
    this.#root = null;
    this.#keys.clear();
  }
}
