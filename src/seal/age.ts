// Whole age files: encryption to X25519 recipients or a passphrase, decryption with
// identities or a passphrase, and an incremental decryptor for streaming exports.
//
// Invariants:
// - every known stanza ("X25519", "scrypt") is checked structurally before any key is
//   tried; unknown stanza types are ignored, as the spec requires;
// - an "scrypt" stanza must be the only stanza in its header;
// - the file key is used for the payload only after the header MAC verified;
// - decryptFile is all-or-nothing: it returns the plaintext only if the whole file
//   verified, and wipes partial plaintext before throwing;
// - the incremental decryptor releases only verified chunks (see StreamDecryptor).

import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { decodeArmor, encodeArmor, isArmored } from './armor.ts';
import { SealError } from './errors.ts';
import { MAX_HEADER_BYTES, VERSION_LINE, encodeHeader, findHeaderEnd, headerMacMatches, parseHeader } from './header.ts';
import type { ParsedHeader, Stanza } from './header.ts';
import { checkX25519Stanza, parseIdentity, parseRecipient, unwrapX25519, wrapX25519 } from './keys.ts';
import type { X25519Identity } from './keys.ts';
import { checkScryptStanza, DEFAULT_WORK_FACTOR, unwrapScrypt, wrapScrypt } from './scrypt.ts';
import { NONCE_SIZE, StreamDecryptor, derivePayloadKey, payloadSize, sealAllInto } from './stream.ts';
import { checkBinding } from './binding.ts';

const V1_PREFIX = Buffer.from(VERSION_LINE + '\n', 'latin1');

export interface DecryptOptions {
  /** AGE-SECRET-KEY-1... strings. */
  identities?: readonly string[];
  passphrase?: string;
  /** If set, the header must be bound to this callvault recording. */
  recordingId?: string;
}

export interface EncryptOptions {
  recipients?: readonly string[];
  passphrase?: string;
  armor?: boolean;
  /** log2(N) for scrypt; default 18. */
  scryptWorkFactor?: number;
}

/** Wraps a fresh file key for the recipients or the passphrase (exactly one of them). */
export function wrapFileKey(fileKey: Buffer, opts: EncryptOptions): Stanza[] {
  const recipients = opts.recipients ?? [];
  if (opts.passphrase !== undefined) {
    if (recipients.length > 0) throw new SealError('bad-options', 'a passphrase cannot be combined with recipients');
    return [wrapScrypt(fileKey, opts.passphrase, opts.scryptWorkFactor ?? DEFAULT_WORK_FACTOR)];
  }
  if (recipients.length === 0) throw new SealError('bad-options', 'at least one recipient or a passphrase is required');
  return recipients.map((r) => wrapX25519(fileKey, parseRecipient(r)));
}

/** Finds and returns the file key of a parsed header, after verifying its MAC. */
export function unwrapFileKey(header: ParsedHeader, opts: DecryptOptions): Buffer {
  const identities: X25519Identity[] = (opts.identities ?? []).map(parseIdentity);
  if (identities.length === 0 && opts.passphrase === undefined) {
    throw new SealError('bad-options', 'an identity or a passphrase is required');
  }
  const hasScrypt = header.stanzas.some((s) => s.args[0] === 'scrypt');
  if (hasScrypt && header.stanzas.length !== 1) throw new SealError('malformed-header', 'an scrypt stanza must be the only stanza');
  const checked = header.stanzas.map((s) =>
    s.args[0] === 'X25519' ? { share: checkX25519Stanza(s) } : s.args[0] === 'scrypt' ? { scrypt: checkScryptStanza(s) } : undefined,
  );
  let fileKey: Buffer | null = null;
  for (let i = 0; i < header.stanzas.length && fileKey === null; i++) {
    const stanza = header.stanzas[i]!;
    const known = checked[i];
    if (known?.share) {
      const share = known.share;
      for (const identity of identities) {
        fileKey = unwrapX25519(stanza, share, identity);
        if (fileKey !== null) break;
      }
    } else if (known?.scrypt && opts.passphrase !== undefined) {
      fileKey = unwrapScrypt(stanza, known.scrypt, opts.passphrase);
    }
  }
  if (fileKey === null) throw new SealError('no-identity-matched', 'no identity matched any recipient stanza');
  if (!headerMacMatches(fileKey, header)) {
    fileKey.fill(0);
    throw new SealError('header-mac', 'header MAC does not verify');
  }
  if (opts.recordingId !== undefined) {
    try {
      checkBinding(header.stanzas, opts.recordingId);
    } catch (err) {
      fileKey.fill(0);
      throw err;
    }
  }
  return fileKey;
}

export function encryptFile(plaintext: Uint8Array, opts: EncryptOptions): Buffer {
  const fileKey = randomBytes(16);
  const nonce = randomBytes(NONCE_SIZE);
  let header: Buffer;
  let key: KeyObject;
  try {
    header = encodeHeader(wrapFileKey(fileKey, opts), fileKey);
    key = derivePayloadKey(fileKey, nonce);
  } finally {
    fileKey.fill(0);
  }
  const out = Buffer.allocUnsafe(header.length + payloadSize(plaintext.length));
  header.copy(out, 0);
  nonce.copy(out, header.length);
  const end = sealAllInto(key, plaintext, out, header.length + NONCE_SIZE);
  if (end !== out.length) throw new Error('internal: payload size mismatch');
  return opts.armor ? encodeArmor(out) : out;
}

/**
 * Incremental decryption of a binary (not armored) age file. push() returns verified
 * plaintext only; finish() must always be called, as only it proves the file was
 * complete (it throws otherwise). Errors met after some verified chunks of a push() are
 * thrown by the next push()/finish().
 */
export class AgeDecryptor {
  #opts: DecryptOptions;
  #head: Buffer = Buffer.alloc(0); // header + nonce bytes gathered so far
  #scanned = 0;
  #stream: StreamDecryptor | null = null;
  #error: unknown = null; // a header-phase failure is final

  constructor(opts: DecryptOptions) {
    this.#opts = opts;
  }

  push(data: Uint8Array): Buffer[] {
    if (this.#stream) return this.#stream.push(data);
    if (this.#error !== null) throw this.#error;
    try {
      return this.#pushHeader(data);
    } catch (err) {
      this.#error = err;
      this.#head = Buffer.alloc(0);
      throw err;
    }
  }

  #pushHeader(data: Uint8Array): Buffer[] {
    const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const buf = this.#head.length === 0 ? view : Buffer.concat([this.#head, view]);
    const n = Math.min(buf.length, V1_PREFIX.length);
    if (!buf.subarray(0, n).equals(V1_PREFIX.subarray(0, n))) throw new SealError('malformed-header', 'not an age v1 file');
    const end = findHeaderEnd(buf, this.#scanned);
    if (end < 0 || buf.length < end + NONCE_SIZE) {
      if (buf.length > MAX_HEADER_BYTES + NONCE_SIZE) throw new SealError('malformed-header', 'header is too large');
      // Every LF before the last one has been ruled out as the start of the MAC line.
      if (end < 0) this.#scanned = Math.max(0, buf.lastIndexOf(0x0a));
      this.#head = buf === view ? Buffer.from(view) : buf; // keep a copy: the caller may reuse `data`
      return [];
    }
    const header = parseHeader(buf.subarray(0, end));
    const fileKey = unwrapFileKey(header, this.#opts);
    const key = derivePayloadKey(fileKey, buf.subarray(end, end + NONCE_SIZE));
    fileKey.fill(0);
    this.#stream = new StreamDecryptor(key);
    this.#head = Buffer.alloc(0);
    return this.#stream.push(buf.subarray(end + NONCE_SIZE));
  }

  /** The last verified plaintext; throws unless the file ended with a valid final chunk. */
  finish(): Buffer {
    if (this.#stream) return this.#stream.finish();
    if (this.#error !== null) throw this.#error;
    const end = findHeaderEnd(this.#head);
    if (end < 0) throw new SealError('malformed-header', 'file ends inside the header');
    parseHeader(this.#head.subarray(0, end)); // report a malformed header as such
    throw new SealError('malformed-header', 'file ends before the payload nonce');
  }

  destroy(): void {
    this.#stream?.destroy();
    this.#head = Buffer.alloc(0);
  }
}

/** Decrypts an async stream of a binary age file, yielding verified plaintext. */
export async function* decryptStream(source: AsyncIterable<Uint8Array>, opts: DecryptOptions): AsyncGenerator<Buffer> {
  const decryptor = new AgeDecryptor(opts);
  try {
    for await (const piece of source) yield* decryptor.push(piece);
    yield decryptor.finish();
  } finally {
    decryptor.destroy();
  }
}

/** Decrypts a whole age file (binary or armored; `armor` forces one or the other). */
export function decryptFile(file: Uint8Array, opts: DecryptOptions & { armor?: boolean }): Buffer {
  const armored = opts.armor ?? isArmored(file);
  const binary = armored ? decodeArmor(file) : file;
  const decryptor = new AgeDecryptor(opts);
  const parts: Buffer[] = [];
  try {
    for (const part of decryptor.push(binary)) parts.push(part);
    parts.push(decryptor.finish());
  } catch (err) {
    for (const p of parts) p.fill(0);
    throw err;
  } finally {
    decryptor.destroy();
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}
