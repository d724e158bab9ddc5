// Sealing and opening callvault recordings: the header lives in the catalog, the
// payload (nonce + STREAM chunks) in the blob store; header + payload is a standard
// age file.
//
// Invariants:
// - every recording gets a fresh random 16-byte file key and payload nonce;
// - sealing needs only the recipient (public key): the sealer cannot decrypt anything
//   already stored, and it wipes the payload key on finish()/destroy();
// - openRecording verifies the header MAC and the recording binding before it keeps
//   the file key;
// - readRange authenticates a chunk before yielding any of its bytes, opens the chunk
//   that must be final (from the payload size) with the final flag, and reads only the
//   chunks that cover the range (plus the nonce); a non-empty range that starts at or
//   past the end still verifies the final chunk, so a cut-down payload cannot pass as
//   a shorter recording.

import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { unwrapFileKey, wrapFileKey } from './age.ts';
import { bindingStanza, checkRecordingId } from './binding.ts';
import { SealError } from './errors.ts';
import { deriveFieldRoot, FieldSealer } from './fields.ts';
import { encodeHeader, parseHeader } from './header.ts';
import { CHUNK_SIZE, ENC_CHUNK_SIZE, NONCE_SIZE, StreamEncryptor, chunkCount, derivePayloadKey, openChunk, plaintextSize } from './stream.ts';

/** Chunks fetched per read() call by readRange (1 MiB of plaintext). */
const READ_BATCH_CHUNKS = 16;

export interface RecordingSealer {
  /** Complete age header bytes, through the MAC line's newline. */
  readonly header: Buffer;
  /** The 16-byte payload nonce: the first bytes of the payload. */
  readonly payloadPrefix: Buffer;
  /** Bytes pushed so far. */
  readonly plaintextLength: number;
  /** Zero or more complete sealed chunks; a chunk is emitted only once more plaintext follows it. */
  push(plaintext: Uint8Array): Buffer[];
  /** Chunks emitted so far and a copy of the plaintext pending after them (kept in memory only). */
  snapshot(): { chunks: number; pending: Buffer };
  /** Like push(), but writes the chunks into `out` at `pos`; returns the end. Needs sealedBound(plaintext.length) bytes of room. */
  pushInto(plaintext: Uint8Array, out: Buffer, pos: number): number;
  /** The final chunk; afterwards push/finish throw. */
  finish(): Buffer;
  /** Seals a small metadata value (e.g. the caller's number) to this recording; usable until destroy(). */
  sealField(label: string, value: Uint8Array, aad?: Uint8Array): Buffer;
  /** Wipes the key material held. */
  destroy(): void;
}

export interface ReadRangeOptions {
  payloadSize: number;
  start: number;
  end: number;
  read: (offset: number, length: number) => Promise<Buffer>;
}

export interface OpenedRecording {
  /** Verified plaintext of [start, end) (end clamped to the plaintext size). */
  readRange(opts: ReadRangeOptions): AsyncGenerator<Buffer>;
  readonly plaintextLength: (payloadSize: number) => number;
  /** Opens a field sealed by RecordingSealer.sealField under the same label; 'field-auth' if it does not verify. */
  openField(label: string, sealed: Uint8Array, aad?: Uint8Array): Buffer;
  /** Wipes the file key; later reads throw 'bad-state'. */
  destroy(): void;
}

function sealerOver(header: Buffer, payloadPrefix: Buffer, encryptor: StreamEncryptor, root: Buffer): RecordingSealer {
  const fields = new FieldSealer(root);
  return {
    header,
    payloadPrefix,
    get plaintextLength() {
      return encryptor.plaintextLength;
    },
    push: (plaintext) => encryptor.push(plaintext),
    pushInto: (plaintext, out, pos) => encryptor.pushInto(plaintext, out, pos),
    snapshot: () => encryptor.snapshot(),
    finish: () => encryptor.finish(),
    sealField: (label, value, aad) => fields.seal(label, value, aad),
    destroy: () => {
      encryptor.destroy();
      fields.destroy();
    },
  };
}

/**
 * Continues sealing a recording after a crash: its first `chunks` chunks are stored, and
 * `pending` (at most one chunk) is the plaintext after them. Needs the archive identity, so
 * only recovery can do it, never the ingest path.
 */
export function resumeSeal(opts: { header: Buffer; identity: string; recordingId: string; payloadPrefix: Buffer; chunks: number; pending: Uint8Array }): RecordingSealer {
  checkRecordingId(opts.recordingId);
  const fileKey = unwrapFileKey(parseHeader(opts.header), { identities: [opts.identity], recordingId: opts.recordingId });
  try {
    const encryptor = new StreamEncryptor(derivePayloadKey(fileKey, opts.payloadPrefix), { chunks: opts.chunks, pending: opts.pending });
    return sealerOver(Buffer.from(opts.header), Buffer.from(opts.payloadPrefix), encryptor, deriveFieldRoot(fileKey));
  } finally {
    fileKey.fill(0);
  }
}

export function beginSeal(opts: { recipient: string; recordingId: string }): RecordingSealer {
  checkRecordingId(opts.recordingId);
  const fileKey = randomBytes(16);
  const payloadPrefix = randomBytes(NONCE_SIZE);
  try {
    const stanzas = [...wrapFileKey(fileKey, { recipients: [opts.recipient] }), bindingStanza(opts.recordingId)];
    const header = encodeHeader(stanzas, fileKey);
    return sealerOver(header, payloadPrefix, new StreamEncryptor(derivePayloadKey(fileKey, payloadPrefix)), deriveFieldRoot(fileKey));
  } finally {
    fileKey.fill(0);
  }
}

async function readExact(read: ReadRangeOptions['read'], offset: number, length: number): Promise<Buffer> {
  const data = await read(offset, length);
  if (data.length < length) throw new SealError('truncated', 'storage returned fewer bytes than the payload size implies');
  if (data.length > length) throw new SealError('bad-range', 'storage returned more bytes than requested');
  return data;
}

export function openRecording(opts: { header: Buffer; identity: string; recordingId: string }): OpenedRecording {
  checkRecordingId(opts.recordingId);
  let fileKey: Buffer | null = unwrapFileKey(parseHeader(opts.header), { identities: [opts.identity], recordingId: opts.recordingId });
  let fields: FieldSealer | null = null;
  // Payload key cache: one payload nonce per recording, so this is normally hit.
  let cachedNonce: Buffer | null = null;
  let cachedKey: KeyObject | null = null;

  const keyFor = (nonce: Buffer): KeyObject => {
    if (fileKey === null) throw new SealError('bad-state', 'recording was closed');
    if (cachedKey === null || cachedNonce === null || !cachedNonce.equals(nonce)) {
      cachedKey = derivePayloadKey(fileKey, nonce);
      cachedNonce = Buffer.from(nonce);
    }
    return cachedKey;
  };

  async function* readRange({ payloadSize, start, end, read }: ReadRangeOptions): AsyncGenerator<Buffer> {
    // end may be Infinity ("to the end"); everything else must be a safe integer.
    if (!Number.isSafeInteger(start) || !(Number.isSafeInteger(end) || end === Infinity) || start < 0 || end < start) {
      throw new SealError('bad-range', 'range must satisfy 0 <= start <= end');
    }
    const total = plaintextSize(payloadSize);
    if (start === end) return;
    const lastIndex = chunkCount(total) - 1;
    if (start >= total) {
      // Nothing to yield, but a range relative to the end must not pass on a payload
      // whose end is not a valid final chunk (a cut-down payload looks shorter).
      const from = NONCE_SIZE + lastIndex * ENC_CHUNK_SIZE;
      const key = keyFor(await readExact(read, 0, NONCE_SIZE));
      const final = openChunk(key, lastIndex, true, await readExact(read, from, payloadSize - from));
      if (final === null) throw new SealError('chunk-auth', `payload chunk ${lastIndex} failed authentication`);
      final.fill(0);
      return;
    }
    const stop = Math.min(end, total);
    const first = Math.floor(start / CHUNK_SIZE);
    const last = Math.floor((stop - 1) / CHUNK_SIZE);
    const nonce = Buffer.alloc(12);
    // A range from chunk 0 reads the nonce with its first batch; any other reads it alongside.
    const nonceRead = first === 0 ? null : readExact(read, 0, NONCE_SIZE);
    nonceRead?.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    let key: KeyObject | null = null;
    for (let i = first; i <= last; i += READ_BATCH_CHUNKS) {
      const j = Math.min(last, i + READ_BATCH_CHUNKS - 1);
      const from = i === 0 ? 0 : NONCE_SIZE + i * ENC_CHUNK_SIZE;
      const to = j === lastIndex ? payloadSize : NONCE_SIZE + (j + 1) * ENC_CHUNK_SIZE;
      const data = await readExact(read, from, to - from);
      key ??= keyFor(nonceRead ? await nonceRead : data.subarray(0, NONCE_SIZE));
      for (let k = i; k <= j; k++) {
        if (fileKey === null) throw new SealError('bad-state', 'recording was closed');
        const at = NONCE_SIZE + k * ENC_CHUNK_SIZE - from;
        const plaintext = openChunk(key, k, k === lastIndex, data.subarray(at, Math.min(at + ENC_CHUNK_SIZE, data.length)), nonce);
        if (plaintext === null) throw new SealError('chunk-auth', `payload chunk ${k} failed authentication`);
        const a = Math.max(0, start - k * CHUNK_SIZE);
        const b = Math.min(plaintext.length, stop - k * CHUNK_SIZE);
        yield a === 0 && b === plaintext.length ? plaintext : plaintext.subarray(a, b);
      }
    }
  }

  return {
    readRange,
    plaintextLength: (payloadSize: number) => plaintextSize(payloadSize),
    openField: (label, sealed, aad) => {
      if (fileKey === null) throw new SealError('bad-state', 'recording was closed');
      fields ??= new FieldSealer(deriveFieldRoot(fileKey));
      return fields.open(label, sealed, aad);
    },
    destroy: () => {
      fileKey?.fill(0);
      fileKey = null;
      cachedKey = null;
      fields?.destroy();
      fields = null;
    },
  };
}

/**
 * Key rotation: re-wraps a recording's file key to new recipients, keeping its binding.
 * The payload is untouched (same file key and nonce); the old header must then be
 * destroyed for the old identity to lose access.
 */
export function rewrapRecordingHeader(opts: { header: Buffer; identity: string; recordingId: string; recipients: readonly string[] }): Buffer {
  const fileKey = unwrapFileKey(parseHeader(opts.header), { identities: [opts.identity], recordingId: opts.recordingId });
  try {
    return encodeHeader([...wrapFileKey(fileKey, { recipients: opts.recipients }), bindingStanza(opts.recordingId)], fileKey);
  } finally {
    fileKey.fill(0);
  }
}
