// Passphrase recipient stanzas (age "scrypt" type).
//
// Invariants:
// - a "scrypt" stanza has exactly three arguments: the type, the canonical base64 of
//   a 16-byte salt, and log2(N) written as ^[1-9][0-9]*$ with 1 <= log2(N) <= 22
//   (MAX_WORK_FACTOR bounds the work an untrusted file can demand); its body is
//   exactly 32 bytes, checked before decrypting;
// - a header with an scrypt stanza must hold no other stanza (checked by the caller
//   over the whole header, see age.ts);
// - wrap key = scrypt(N, r = 8, p = 1, dkLen = 32, salt = "age-encryption.org/v1/scrypt"
//   || salt, passphrase); the wrap key is wiped after use.

import { randomBytes, scryptSync } from 'node:crypto';
import { ZERO_NONCE, aeadOpen, aeadSeal } from './aead.ts';
import { decodeB64, encodeB64 } from './b64.ts';
import { SealError } from './errors.ts';
import type { Stanza } from './header.ts';

const SALT_LABEL = 'age-encryption.org/v1/scrypt';
export const MAX_WORK_FACTOR = 22;
export const DEFAULT_WORK_FACTOR = 18;
const WORK_FACTOR = /^[1-9][0-9]*$/;

export interface ScryptParams {
  readonly salt: Buffer;
  readonly workFactor: number;
}

function deriveWrapKey(passphrase: string, salt: Uint8Array, workFactor: number): Buffer {
  const n = 2 ** workFactor;
  const fullSalt = Buffer.concat([Buffer.from(SALT_LABEL, 'latin1'), salt]);
  // scrypt needs about 128 * N * r bytes; allow that with headroom.
  return scryptSync(Buffer.from(passphrase, 'utf8'), fullSalt, 32, { N: n, r: 8, p: 1, maxmem: 256 * 8 * n + (32 << 20) });
}

export function wrapScrypt(fileKey: Uint8Array, passphrase: string, workFactor: number): Stanza {
  if (passphrase.length === 0) throw new SealError('bad-options', 'passphrase must not be empty');
  if (!Number.isInteger(workFactor) || workFactor < 1 || workFactor > MAX_WORK_FACTOR) {
    throw new SealError('bad-options', `scrypt work factor must be an integer in 1..${MAX_WORK_FACTOR}`);
  }
  const salt = randomBytes(16);
  const wrapKey = deriveWrapKey(passphrase, salt, workFactor);
  const body = aeadSeal(wrapKey, ZERO_NONCE, fileKey);
  wrapKey.fill(0);
  return { args: ['scrypt', encodeB64(salt), String(workFactor)], body };
}

export function checkScryptStanza(stanza: Stanza): ScryptParams {
  if (stanza.args.length !== 3) throw new SealError('malformed-header', 'scrypt stanza must have exactly three arguments');
  const salt = decodeB64(stanza.args[1]!);
  if (salt === null || salt.length !== 16) throw new SealError('malformed-header', 'scrypt salt is not canonical base64 of 16 bytes');
  const wf = stanza.args[2]!;
  if (!WORK_FACTOR.test(wf) || wf.length > 2 || Number(wf) > MAX_WORK_FACTOR) {
    throw new SealError('malformed-header', `scrypt work factor must be a decimal in 1..${MAX_WORK_FACTOR}`);
  }
  if (stanza.body.length !== 32) throw new SealError('malformed-header', 'scrypt stanza body must be 32 bytes');
  return { salt, workFactor: Number(wf) };
}

/** The file key, or null if the passphrase (or work factor) does not open the stanza. */
export function unwrapScrypt(stanza: Stanza, params: ScryptParams, passphrase: string): Buffer | null {
  const wrapKey = deriveWrapKey(passphrase, params.salt, params.workFactor);
  const fileKey = aeadOpen(wrapKey, ZERO_NONCE, stanza.body);
  wrapKey.fill(0);
  return fileKey;
}
