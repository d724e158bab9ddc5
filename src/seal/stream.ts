// The age STREAM payload: a 16-byte nonce, then ChaCha20-Poly1305 chunks of 64 KiB.
//
// Invariants:
// - payload key = HKDF-SHA-256(ikm = file key, salt = payload nonce, info "payload"),
//   derived once per payload and held as a secret KeyObject (Node 24 sets up a cipher
//   from a KeyObject in ~2 us, from raw bytes in ~12 us); the raw bytes are wiped at
//   once, and the KeyObject is dropped on finish()/destroy() (Node cannot wipe it
//   explicitly; its native copy is freed with it);
// - chunk i is sealed under the 12-byte nonce (11-byte big-endian i) || flag, where the
//   flag is 0x01 on the final chunk and 0x00 on every other one;
// - every chunk but the final one holds exactly CHUNK_SIZE bytes; the final chunk
//   holds 1..CHUNK_SIZE bytes, or 0 only when it is the only chunk (empty plaintext);
// - the encryptor emits a chunk only once at least one more plaintext byte follows it,
//   so a chunk is never emitted with the wrong final flag;
// - the decryptor releases a chunk only after its tag verified at its index (inner or
//   final flag); the stream is complete only once a chunk verified as final, and any
//   byte after it is an error.

import { createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { TAG_SIZE, aeadOpen, aeadSealInto, hkdf32 } from './aead.ts';
import { SealError } from './errors.ts';

export const CHUNK_SIZE = 65536;
export const NONCE_SIZE = 16;
export const ENC_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE;

function checkLength(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new SealError('bad-range', `${what} must be a non-negative safe integer`);
}

/** The most sealed bytes one push of `n` plaintext bytes can emit (pending data included). */
export function sealedBound(n: number): number {
  return (Math.floor(n / CHUNK_SIZE) + 1) * ENC_CHUNK_SIZE;
}

/** Number of STREAM chunks for a plaintext of `n` bytes (an empty plaintext has one). */
export function chunkCount(plaintextLength: number): number {
  return plaintextLength === 0 ? 1 : Math.ceil(plaintextLength / CHUNK_SIZE);
}

/** Bytes of payload (nonce included) for a plaintext of `plaintextLength` bytes. */
export function payloadSize(plaintextLength: number): number {
  checkLength(plaintextLength, 'plaintext length');
  return NONCE_SIZE + plaintextLength + chunkCount(plaintextLength) * TAG_SIZE;
}

/** Inverse of payloadSize; 'truncated' if no plaintext length maps to `payloadLength`. */
export function plaintextSize(payloadLength: number): number {
  checkLength(payloadLength, 'payload length');
  const body = payloadLength - NONCE_SIZE;
  if (body < TAG_SIZE) throw new SealError('truncated', 'payload is shorter than a nonce and one chunk');
  const full = Math.floor(body / ENC_CHUNK_SIZE);
  const rest = body % ENC_CHUNK_SIZE;
  if (rest === 0) return full * CHUNK_SIZE; // the final chunk is full
  if (rest < TAG_SIZE || (rest === TAG_SIZE && full > 0)) {
    throw new SealError('truncated', 'payload length does not end on a valid final chunk');
  }
  return full * CHUNK_SIZE + rest - TAG_SIZE;
}

export function derivePayloadKey(fileKey: Uint8Array, nonce: Uint8Array): KeyObject {
  if (nonce.length !== NONCE_SIZE) throw new SealError('truncated', 'payload nonce is incomplete');
  const raw = hkdf32(fileKey, nonce, 'payload');
  try {
    return createSecretKey(raw);
  } finally {
    raw.fill(0);
  }
}

/** Writes the STREAM nonce for chunk `index` into a 12-byte buffer. */
function setChunkNonce(nonce: Buffer, index: number, final: boolean): Buffer {
  // index < 2^53, so the top 4 of the 11 counter bytes are always zero.
  nonce.fill(0, 0, 3);
  nonce.writeUInt32BE(Math.floor(index / 0x100000000), 3);
  nonce.writeUInt32BE(index >>> 0, 7);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

/** Opens one sealed chunk; null if it does not authenticate at this index/flag. */
export function openChunk(key: KeyObject, index: number, final: boolean, sealed: Uint8Array, nonce = Buffer.alloc(12)): Buffer | null {
  if (sealed.length > ENC_CHUNK_SIZE) return null;
  return aeadOpen(key, setChunkNonce(nonce, index, final), sealed);
}

/** Seals a whole plaintext as STREAM chunks straight into `out` at `pos`; returns the end. */
export function sealAllInto(key: KeyObject, plaintext: Uint8Array, out: Buffer, pos: number): number {
  const nonce = Buffer.alloc(12);
  const count = chunkCount(plaintext.length);
  for (let i = 0; i < count; i++) {
    const chunk = plaintext.subarray(i * CHUNK_SIZE, (i + 1) * CHUNK_SIZE);
    pos += aeadSealInto(key, setChunkNonce(nonce, i, i === count - 1), chunk, out, pos);
  }
  return pos;
}

/** Seals plaintext into STREAM chunks; owns the payload key until finish()/destroy(). */
export class StreamEncryptor {
  #key: KeyObject | null;
  #nonce = Buffer.alloc(12);
  #index = 0;
  #pending: Buffer | null = null; // plaintext not yet sealed, at most CHUNK_SIZE bytes
  #pendingLength = 0;
  #total = 0;

  /**
   * `resume` continues a stream whose first `chunks` chunks are already sealed and stored,
   * with `pending` (at most one chunk) of plaintext after them.
   */
  constructor(payloadKey: KeyObject, resume?: { chunks: number; pending: Uint8Array }) {
    this.#key = payloadKey;
    if (resume) {
      if (!Number.isSafeInteger(resume.chunks) || resume.chunks < 0 || resume.pending.length > CHUNK_SIZE) {
        throw new SealError('bad-range', 'resume needs a chunk count >= 0 and at most one chunk of pending plaintext');
      }
      this.#index = resume.chunks;
      this.#total = resume.chunks * CHUNK_SIZE + resume.pending.length;
      this.#pending = Buffer.allocUnsafe(CHUNK_SIZE);
      this.#pending.set(resume.pending, 0);
      this.#pendingLength = resume.pending.length;
    }
  }

  get plaintextLength(): number {
    return this.#total;
  }

  /** Chunks emitted so far, and a copy of the plaintext waiting after them (for a journal base). */
  snapshot(): { chunks: number; pending: Buffer } {
    return { chunks: this.#index, pending: Buffer.from(this.#pending ? this.#pending.subarray(0, this.#pendingLength) : Buffer.alloc(0)) };
  }

  #live(): KeyObject {
    if (this.#key === null) throw new SealError('bad-state', 'stream encryptor is finished or destroyed');
    return this.#key;
  }

  #seal(key: KeyObject, plaintext: Uint8Array, final: boolean): Buffer {
    const out = Buffer.allocUnsafe(plaintext.length + TAG_SIZE);
    aeadSealInto(key, setChunkNonce(this.#nonce, this.#index, final), plaintext, out, 0);
    this.#index += 1;
    return out;
  }

  /**
   * Feeds plaintext, calling `emit` synchronously for every inner chunk that is complete and
   * followed by more data. `emit` must seal the chunk before it returns: the slice may point
   * into the pending buffer, which is reused right after.
   */
  #drive(data: Uint8Array, emit: (plaintext: Uint8Array) => void): void {
    const n = data.length;
    if (n === 0) return;
    this.#total += n;
    let off = 0;
    if (this.#pendingLength === CHUNK_SIZE) {
      // A full chunk was waiting to learn whether it is the last: it is not.
      emit(this.#pending!);
      this.#pendingLength = 0;
    }
    if (this.#pendingLength > 0) {
      const take = Math.min(CHUNK_SIZE - this.#pendingLength, n);
      this.#pending!.set(data.subarray(0, take), this.#pendingLength);
      this.#pendingLength += take;
      off = take;
      if (off === n) return;
      emit(this.#pending!); // full, and more data follows
      this.#pendingLength = 0;
    }
    // Seal straight from the caller's buffer while more than a chunk remains.
    while (n - off > CHUNK_SIZE) {
      emit(data.subarray(off, off + CHUNK_SIZE));
      off += CHUNK_SIZE;
    }
    this.#pending ??= Buffer.allocUnsafe(CHUNK_SIZE);
    this.#pending.set(data.subarray(off), 0);
    this.#pendingLength = n - off;
  }

  push(data: Uint8Array): Buffer[] {
    const key = this.#live();
    const out: Buffer[] = [];
    this.#drive(data, (pt) => out.push(this.#seal(key, pt, false)));
    return out;
  }

  /**
   * Like push(), but writes the sealed chunks contiguously into `out` from `pos` and returns
   * the position after them: no allocation per chunk, one buffer to hand to storage.
   * `out` needs room for sealedBound(data.length) bytes from `pos`.
   */
  pushInto(data: Uint8Array, out: Buffer, pos: number): number {
    const key = this.#live();
    if (out.length - pos < sealedBound(data.length)) throw new SealError('bad-range', 'output buffer too small for pushInto');
    this.#drive(data, (pt) => {
      pos += aeadSealInto(key, setChunkNonce(this.#nonce, this.#index, false), pt, out, pos);
      this.#index += 1;
    });
    return pos;
  }

  /** The final chunk (possibly empty only if nothing was pushed). */
  finish(): Buffer {
    const key = this.#live();
    const last = this.#seal(key, this.#pending ? this.#pending.subarray(0, this.#pendingLength) : Buffer.alloc(0), true);
    this.destroy();
    return last;
  }

  destroy(): void {
    this.#key = null;
    this.#pending?.fill(0);
    this.#pending = null;
    this.#pendingLength = 0;
  }
}

/**
 * Incremental STREAM decryption of a payload after its nonce. push() returns the
 * plaintext of every chunk that verified; finish() throws unless a chunk verified as
 * final and nothing followed it. A full-size chunk is tried as an inner chunk, then as
 * the final one, so verified plaintext is released as early as possible (this matches
 * the reference implementation and the prefixes the CCTV vectors expect). An error
 * met after some chunks of the same push() verified is deferred: push() returns those
 * chunks and the next push()/finish() throws. Callers must therefore always call
 * finish() — it is what proves the stream was complete.
 */
export class StreamDecryptor {
  #key: KeyObject | null;
  #nonce = Buffer.alloc(12);
  #index = 0;
  #hold = Buffer.allocUnsafe(ENC_CHUNK_SIZE); // sealed bytes of a chunk not yet complete
  #holdLength = 0;
  #done = false; // the final chunk verified
  #error: SealError | null = null;

  constructor(payloadKey: KeyObject) {
    this.#key = payloadKey;
  }

  #fail(error: SealError): SealError {
    this.#error = error;
    this.destroy();
    return error;
  }

  /** Opens a full-size chunk: as an inner chunk, else as the final one. */
  #openFull(key: KeyObject, sealed: Uint8Array, out: Buffer[]): void {
    const inner = openChunk(key, this.#index, false, sealed, this.#nonce);
    if (inner !== null) {
      this.#index += 1;
      out.push(inner);
      return;
    }
    const last = openChunk(key, this.#index, true, sealed, this.#nonce);
    if (last === null) throw this.#fail(new SealError('chunk-auth', `payload chunk ${this.#index} failed authentication`));
    out.push(last);
    this.#done = true;
  }

  push(data: Uint8Array): Buffer[] {
    if (this.#error) throw this.#error;
    const out: Buffer[] = [];
    if (data.length === 0) return out;
    if (this.#done) throw this.#fail(new SealError('trailing-data', 'data follows the final payload chunk'));
    const key = this.#key;
    if (key === null) throw new SealError('bad-state', 'stream decryptor is finished or destroyed');
    let off = 0;
    try {
      while (off < data.length && !this.#done) {
        if (this.#holdLength > 0 || data.length - off < ENC_CHUNK_SIZE) {
          const take = Math.min(ENC_CHUNK_SIZE - this.#holdLength, data.length - off);
          this.#hold.set(data.subarray(off, off + take), this.#holdLength);
          this.#holdLength += take;
          off += take;
          if (this.#holdLength === ENC_CHUNK_SIZE) {
            this.#holdLength = 0;
            this.#openFull(key, this.#hold, out);
          }
        } else {
          this.#openFull(key, data.subarray(off, off + ENC_CHUNK_SIZE), out);
          off += ENC_CHUNK_SIZE;
        }
      }
    } catch (err) {
      // Chunks that verified before the failure are released now; the recorded error
      // is thrown by the next push()/finish().
      if (out.length === 0) throw err;
      return out;
    }
    // The final chunk's plaintext is authentic and is released; the error comes next call.
    if (off < data.length) this.#fail(new SealError('trailing-data', 'data follows the final payload chunk'));
    return out;
  }

  /** The final chunk's plaintext (empty if it was already released by push). */
  finish(): Buffer {
    if (this.#error) throw this.#error;
    const key = this.#key;
    if (key === null) throw new SealError('bad-state', 'stream decryptor is finished or destroyed');
    if (this.#done) {
      this.destroy();
      return Buffer.alloc(0);
    }
    if (this.#holdLength < TAG_SIZE) {
      const message = this.#index === 0 && this.#holdLength === 0 ? 'payload has no chunk' : 'payload ends before its final chunk';
      throw this.#fail(new SealError('truncated', message));
    }
    if (this.#holdLength === TAG_SIZE && this.#index > 0) {
      throw this.#fail(new SealError('chunk-auth', 'final chunk is empty but the payload is not'));
    }
    const last = openChunk(key, this.#index, true, this.#hold.subarray(0, this.#holdLength), this.#nonce);
    if (last === null) throw this.#fail(new SealError('chunk-auth', `payload chunk ${this.#index} failed authentication`));
    this.destroy();
    return last;
  }

  destroy(): void {
    this.#key = null;
    this.#hold.fill(0, 0, this.#holdLength);
    this.#holdLength = 0;
  }
}
