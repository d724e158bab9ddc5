// X25519 identities, recipients and recipient stanzas (age "X25519" type).
//
// Invariants:
// - identities are Bech32 with HRP "AGE-SECRET-KEY-" written in uppercase, recipients
//   Bech32 with HRP "age" in lowercase; both carry exactly 32 bytes;
// - an "X25519" stanza must have exactly two arguments, the second the canonical
//   base64 of 32 bytes, and a body of exactly 32 bytes (checked before any decryption,
//   against partitioning oracles); anything else aborts with 'malformed-header';
// - an all-zero shared secret (low-order share) aborts: it is never treated as
//   "not for us";
// - wrap key = HKDF-SHA-256(ikm = shared secret, salt = share || recipient,
//   info "age-encryption.org/v1/X25519"); body = ChaCha20-Poly1305(wrap key, zero
//   nonce, file key); intermediate secrets are wiped after use.

import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { ZERO_NONCE, aeadOpen, aeadSeal, hkdf32 } from './aead.ts';
import { decodeB64, encodeB64 } from './b64.ts';
import { bech32Decode, bech32Encode } from './bech32.ts';
import { SealError } from './errors.ts';
import type { Stanza } from './header.ts';

const IDENTITY_HRP = 'AGE-SECRET-KEY-';
const RECIPIENT_HRP = 'age';
const X25519_INFO = 'age-encryption.org/v1/X25519';
// DER PKCS#8 wrapper for a raw X25519 private key (RFC 8410): SEQUENCE { INTEGER 0,
// SEQUENCE { OID 1.3.101.110 }, OCTET STRING { OCTET STRING (32 bytes) } }.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

export interface X25519Identity {
  readonly privateKey: KeyObject;
  readonly publicKey: Buffer; // 32 raw bytes
}

function privateKeyFromRaw(raw: Uint8Array): KeyObject {
  const der = Buffer.concat([PKCS8_X25519_PREFIX, raw]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

function rawPublicKey(key: KeyObject): Buffer {
  const jwk = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

/** X25519 key agreement; null if the result is the all-zero value (low-order point). */
function sharedSecret(privateKey: KeyObject, peer: Uint8Array): Buffer | null {
  let secret: Buffer;
  try {
    secret = diffieHellman({ privateKey, publicKey: publicKeyFromRaw(peer) });
  } catch {
    return null; // OpenSSL refuses to derive an all-zero secret
  }
  if (secret.every((b) => b === 0)) return null;
  return secret;
}

export function parseIdentity(identity: string): X25519Identity {
  const decoded = bech32Decode(identity);
  if (decoded === null || decoded.hrp !== IDENTITY_HRP || decoded.data.length !== 32) {
    throw new SealError('bad-key', 'not an age X25519 identity (AGE-SECRET-KEY-1...)');
  }
  try {
    const privateKey = privateKeyFromRaw(decoded.data);
    return { privateKey, publicKey: rawPublicKey(privateKey) };
  } finally {
    decoded.data.fill(0);
  }
}

export function parseRecipient(recipient: string): Buffer {
  const decoded = bech32Decode(recipient);
  if (decoded === null || decoded.hrp !== RECIPIENT_HRP || decoded.data.length !== 32) {
    throw new SealError('bad-key', 'not an age X25519 recipient (age1...)');
  }
  return decoded.data;
}

export function encodeRecipient(publicKey: Uint8Array): string {
  return bech32Encode(RECIPIENT_HRP, publicKey);
}

export function generateIdentity(): { identity: string; recipient: string } {
  const raw = randomBytes(32);
  try {
    const identity = bech32Encode(IDENTITY_HRP, raw, true);
    return { identity, recipient: encodeRecipient(rawPublicKey(privateKeyFromRaw(raw))) };
  } finally {
    raw.fill(0);
  }
}

export function recipientOf(identity: string): string {
  return encodeRecipient(parseIdentity(identity).publicKey);
}

/** Wraps `fileKey` to a 32-byte recipient public key with a fresh ephemeral key. */
export function wrapX25519(fileKey: Uint8Array, recipient: Buffer): Stanza {
  const ephemeral = generateKeyPairSync('x25519');
  const share = rawPublicKey(ephemeral.publicKey);
  const secret = sharedSecret(ephemeral.privateKey, recipient);
  if (secret === null) throw new SealError('bad-key', 'recipient is a low-order point');
  const wrapKey = hkdf32(secret, Buffer.concat([share, recipient]), X25519_INFO);
  secret.fill(0);
  const body = aeadSeal(wrapKey, ZERO_NONCE, fileKey);
  wrapKey.fill(0);
  return { args: ['X25519', encodeB64(share)], body };
}

/** Structural check of an "X25519" stanza; returns the 32-byte ephemeral share. */
export function checkX25519Stanza(stanza: Stanza): Buffer {
  if (stanza.args.length !== 2) throw new SealError('malformed-header', 'X25519 stanza must have exactly two arguments');
  const share = decodeB64(stanza.args[1]!);
  if (share === null || share.length !== 32) throw new SealError('malformed-header', 'X25519 share is not canonical base64 of 32 bytes');
  if (stanza.body.length !== 32) throw new SealError('malformed-header', 'X25519 stanza body must be 32 bytes');
  return share;
}

/** Unwraps the file key if the stanza is addressed to `identity`; null if it is not. */
export function unwrapX25519(stanza: Stanza, share: Buffer, identity: X25519Identity): Buffer | null {
  const secret = sharedSecret(identity.privateKey, share);
  if (secret === null) throw new SealError('malformed-header', 'X25519 share is a low-order point');
  const wrapKey = hkdf32(secret, Buffer.concat([share, identity.publicKey]), X25519_INFO);
  secret.fill(0);
  const fileKey = aeadOpen(wrapKey, ZERO_NONCE, stanza.body);
  wrapKey.fill(0);
  return fileKey;
}
