/**
 * Streaming validation of uploaded WAV call recordings, plus a small WAV builder and G.711
 * encoders for tests and the demo client.
 *
 * Invariants:
 * - Memory: the inspector holds at most FMT_KEEP (40) bytes of the stream at any time (the
 *   RIFF header, one chunk header, or the start of the fmt chunk). Audio and the bodies of
 *   other chunks are counted and skipped, never copied or referenced.
 * - Safe errors: a WavError message is built only from fixed text and numbers (sizes, offsets,
 *   format tags), never from bytes of the file (chunk ids, LIST/INFO text, samples), so it can
 *   be returned in an HTTP 400/415 body and logged.
 * - Fail early: feed() throws as soon as the bytes seen so far prove the file invalid; after a
 *   failure every later call throws the same error.
 * - Accepted: RIFF/WAVE, exactly one fmt chunk before exactly one non-empty data chunk, 16-bit
 *   PCM, 8-bit A-law or 8-bit u-law (plain or WAVE_FORMAT_EXTENSIBLE), 1 or 2 channels,
 *   8000..48000 Hz, consistent blockAlign and byteRate, sizes matching the bytes received.
 */

export type WavCodec = 'pcm_s16le' | 'pcma' | 'pcmu';

export interface WavInfo {
  codec: WavCodec;
  sampleRate: number;
  channels: 1 | 2;
  bitsPerSample: 8 | 16;
  blockAlign: number;
  /** Offset in the file of the first audio byte. */
  dataOffset: number;
  dataLength: number;
  durationMs: number;
}

export type WavFormat = Omit<WavInfo, 'dataLength' | 'durationMs'>;

/** Machine-readable failure codes; the ones in UNSUPPORTED mean "valid WAV, unsupported encoding". */
export type WavErrorReason =
  | 'not_riff' | 'rf64_unsupported' | 'rifx_unsupported' | 'not_wave' | 'riff_size_invalid'
  | 'bad_chunk_id' | 'chunk_overruns_riff' | 'stray_bytes' | 'trailing_bytes' | 'truncated'
  | 'header_too_large' | 'fmt_too_short' | 'fmt_duplicate' | 'fmt_missing' | 'extensible_invalid'
  | 'unsupported_format' | 'unsupported_bits' | 'unsupported_channels' | 'unsupported_sample_rate'
  | 'inconsistent_block_align' | 'inconsistent_byte_rate'
  | 'data_before_fmt' | 'data_duplicate' | 'data_missing' | 'data_empty' | 'data_misaligned';

const UNSUPPORTED: ReadonlySet<WavErrorReason> = new Set<WavErrorReason>([
  'rf64_unsupported', 'rifx_unsupported', 'unsupported_format', 'unsupported_bits',
  'unsupported_channels', 'unsupported_sample_rate',
]);

export class WavError extends Error {
  readonly reason: WavErrorReason;
  /** Suggested HTTP status: 415 for a well-formed file in an encoding we refuse, else 400. */
  readonly status: 400 | 415;
  constructor(reason: WavErrorReason, message: string) {
    super(message);
    this.name = 'WavError';
    this.reason = reason;
    this.status = UNSUPPORTED.has(reason) ? 415 : 400;
  }
}

function fail(reason: WavErrorReason, message: string): never {
  throw new WavError(reason, message);
}

export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;
export const MIN_SAMPLE_RATE = 8000;
export const MAX_SAMPLE_RATE = 48000;

const TAG_PCM = 0x0001;
const TAG_FLOAT = 0x0003;
const TAG_ALAW = 0x0006;
const TAG_MULAW = 0x0007;
const TAG_MP3 = 0x0055;
const TAG_EXTENSIBLE = 0xfffe;
/** KSDATAFORMAT_SUBTYPE_* GUIDs are {0000tttt-0000-0010-8000-00AA00389B71}; bytes after the tag. */
const GUID_TAIL = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

const RIFF_HEADER = 12;
const CHUNK_HEADER = 8;
const FMT_MIN = 16;
const FMT_KEEP = 40;

const CODEC_TAG: Record<WavCodec, number> = { pcm_s16le: TAG_PCM, pcma: TAG_ALAW, pcmu: TAG_MULAW };

interface ParsedFmt { codec: WavCodec; channels: 1 | 2; sampleRate: number; bits: 8 | 16; blockAlign: number }

function u16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

function codecFor(tag: number, bits: number): { codec: WavCodec; bits: 8 | 16 } {
  switch (tag) {
    case TAG_PCM:
      if (bits === 16) return { codec: 'pcm_s16le', bits };
      return fail('unsupported_bits', `${bits}-bit PCM is not supported (need 16-bit)`);
    case TAG_ALAW:
    case TAG_MULAW:
      if (bits === 8) return { codec: tag === TAG_ALAW ? 'pcma' : 'pcmu', bits };
      return fail('unsupported_bits', `G.711 audio must have 8 bits per sample, not ${bits}`);
    case TAG_FLOAT:
      return fail('unsupported_format', 'IEEE float audio is not supported (need PCM, A-law or u-law)');
    case TAG_MP3:
      return fail('unsupported_format', 'MP3 audio is not supported (need PCM, A-law or u-law)');
    default:
      return fail('unsupported_format',
        `format tag 0x${tag.toString(16).padStart(4, '0')} is not supported (need PCM, A-law or u-law)`);
  }
}

/** Validates the first min(size, 40) bytes of a fmt chunk whose declared size is `size`. */
function parseFmt(b: Uint8Array, size: number): ParsedFmt {
  let tag = u16(b, 0);
  const channels = u16(b, 2);
  const sampleRate = u32(b, 4);
  const byteRate = u32(b, 8);
  const blockAlign = u16(b, 12);
  const bits = u16(b, 14);
  if (tag === TAG_EXTENSIBLE) {
    if (size < 40) fail('extensible_invalid', `WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes, need 40`);
    const cbSize = u16(b, 16);
    if (cbSize < 22) fail('extensible_invalid', `WAVE_FORMAT_EXTENSIBLE extension is ${cbSize} bytes, need 22`);
    if (GUID_TAIL.some((v, i) => b[26 + i] !== v)) {
      fail('unsupported_format', 'WAVE_FORMAT_EXTENSIBLE subformat is not PCM, A-law or u-law');
    }
    tag = u16(b, 24);
    codecFor(tag, bits); // unsupported subformats are reported before the bit-count mismatch
    const validBits = u16(b, 18);
    if (validBits !== bits) {
      fail('extensible_invalid', `valid bits per sample (${validBits}) differ from the container size (${bits})`);
    }
  }
  const codec = codecFor(tag, bits);
  if (channels !== 1 && channels !== 2) {
    fail('unsupported_channels', `${channels} channels are not supported (need 1 or 2)`);
  }
  if (sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    fail('unsupported_sample_rate',
      `sample rate ${sampleRate} Hz is not supported (need ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE})`);
  }
  const expectAlign = channels * (codec.bits / 8);
  if (blockAlign !== expectAlign) {
    fail('inconsistent_block_align', `blockAlign is ${blockAlign}, expected ${expectAlign}`);
  }
  if (byteRate !== sampleRate * blockAlign) {
    fail('inconsistent_byte_rate', `byteRate is ${byteRate}, expected ${sampleRate * blockAlign}`);
  }
  return { codec: codec.codec, channels, sampleRate, bits: codec.bits, blockAlign };
}

/** True when the bytes of `b` in [start, min(have, start + 4)) differ from the prefix of `word`. */
function differs(b: Uint8Array, have: number, start: number, word: string): boolean {
  for (let k = start; k < Math.min(have, start + 4); k++) if (b[k] !== word.charCodeAt(k - start)) return true;
  return false;
}

function isFourCC(b: Uint8Array): boolean {
  for (let k = 0; k < 4; k++) if (b[k]! < 0x20 || b[k]! > 0x7e) return false;
  return true;
}

type Phase = 'riff' | 'chunk' | 'fmt' | 'skip' | 'trailer';

export class WavInspector {
  readonly #maxHeaderBytes: number;
  readonly #scratch = new Uint8Array(FMT_KEEP);
  #phase: Phase = 'riff';
  #have = 0; // bytes collected into #scratch in the 'riff' | 'chunk' | 'fmt' phases
  #want = RIFF_HEADER;
  #pos = 0; // offset of the next byte to consume
  #fed = 0;
  #skip = 0; // bytes left to skip in the 'skip' phase
  #skipEnd = 0;
  #riffEnd = 0; // offset just past the RIFF chunk as declared
  #padAllowed = 0; // one pad byte may follow an odd-sized RIFF chunk
  #fmtSize = 0;
  #fmt: ParsedFmt | null = null;
  #format: WavFormat | null = null;
  #dataOffset = -1;
  #dataLength = 0;
  #error: WavError | null = null;
  #info: WavInfo | null = null;

  constructor(opts: { maxHeaderBytes?: number } = {}) {
    const max = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError('maxHeaderBytes must be a positive integer');
    this.#maxHeaderBytes = max;
  }

  get format(): WavFormat | null {
    return this.#format;
  }

  get bytesSeen(): number {
    return this.#fed;
  }

  /** Bytes of the stream currently held in memory (never more than 40); exposed for tests. */
  get bufferedBytes(): number {
    return this.#phase === 'skip' || this.#phase === 'trailer' ? 0 : this.#have;
  }

  feed(piece: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (this.#info) throw new Error('WavInspector.feed() called after finish()');
    this.#fed += piece.length;
    this.#guard(() => this.#consume(piece));
  }

  finish(): WavInfo {
    if (this.#error) throw this.#error;
    this.#info ??= this.#guard(() => this.#conclude());
    return this.#info;
  }

  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof WavError) this.#error = err;
      throw err;
    }
  }

  #consume(piece: Uint8Array): void {
    const n = piece.length;
    let i = 0;
    while (i < n) {
      if (this.#phase === 'skip') {
        const take = Math.min(this.#skip, n - i);
        this.#skip -= take;
        this.#pos += take;
        i += take;
        if (this.#skip === 0) this.#nextChunk();
      } else if (this.#phase === 'trailer') {
        const extra = this.#pos + (n - i) - this.#riffEnd;
        if (extra > this.#padAllowed) {
          fail('trailing_bytes', `bytes after the declared RIFF end at ${this.#riffEnd}` +
            (this.#padAllowed ? ' beyond its one pad byte' : ' (no pad byte: the RIFF size is even)'));
        }
        this.#pos += n - i;
        i = n;
      } else {
        const take = Math.min(this.#want - this.#have, n - i);
        this.#scratch.set(piece.subarray(i, i + take), this.#have);
        this.#have += take;
        this.#pos += take;
        i += take;
        if (this.#phase === 'riff') this.#checkMagic();
        if (this.#have === this.#want) this.#collected();
      }
    }
  }

  #checkMagic(): void {
    const b = this.#scratch;
    const have = this.#have;
    if (differs(b, have, 0, 'RIFF')) {
      if (!differs(b, have, 0, 'RF64')) {
        if (have >= 4) fail('rf64_unsupported', 'RF64 files are not supported');
      } else if (!differs(b, have, 0, 'RIFX')) {
        if (have >= 4) fail('rifx_unsupported', 'big-endian RIFX files are not supported');
      } else {
        fail('not_riff', 'not a RIFF file');
      }
    }
    if (differs(b, have, 8, 'WAVE')) fail('not_wave', 'RIFF file is not of type WAVE');
  }

  #collect(phase: Phase, bytes: number): void {
    this.#phase = phase;
    this.#have = 0;
    this.#want = bytes;
  }

  #skipTo(end: number): void {
    this.#phase = 'skip';
    this.#have = 0;
    this.#skip = end - this.#pos;
    if (this.#skip === 0) this.#nextChunk();
  }

  #collected(): void {
    if (this.#phase === 'riff') {
      const riffSize = u32(this.#scratch, 4);
      const minimum = 4 + 2 * CHUNK_HEADER + FMT_MIN;
      if (riffSize < minimum) fail('riff_size_invalid', `RIFF size ${riffSize} is below the minimum of ${minimum}`);
      this.#riffEnd = 8 + riffSize;
      this.#padAllowed = riffSize & 1;
      this.#nextChunk();
    } else if (this.#phase === 'chunk') {
      this.#onChunkHeader();
    } else {
      this.#fmt = parseFmt(this.#scratch, this.#fmtSize);
      this.#skipTo(this.#skipEnd);
    }
  }

  #nextChunk(): void {
    const left = this.#riffEnd - this.#pos;
    if (left <= 0) {
      this.#phase = 'trailer';
      this.#have = 0;
    } else if (left < CHUNK_HEADER) {
      fail('stray_bytes', `the last ${left} bytes of the RIFF chunk are too few for a chunk header`);
    } else {
      this.#collect('chunk', CHUNK_HEADER);
    }
  }

  #onChunkHeader(): void {
    const b = this.#scratch;
    const start = this.#pos - CHUNK_HEADER;
    if (!isFourCC(b)) fail('bad_chunk_id', `chunk at offset ${start} has an invalid id`);
    const size = u32(b, 4);
    const end = this.#pos + size;
    if (end > this.#riffEnd) {
      fail('chunk_overruns_riff',
        `chunk at offset ${start} declares ${size} bytes, past the RIFF end at ${this.#riffEnd}`);
    }
    // A pad byte that would fall past the RIFF end is the RIFF chunk's own pad (see #padAllowed).
    const padded = Math.min(end + (size & 1), this.#riffEnd);
    const id = String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!); // compared only, never reported
    if (id === 'data') {
      this.#onData(size, padded);
      return;
    }
    if (this.#dataOffset < 0 && padded + CHUNK_HEADER > this.#maxHeaderBytes) {
      fail('header_too_large', `the data chunk does not start within the first ${this.#maxHeaderBytes} bytes`);
    }
    if (id === 'fmt ') {
      if (this.#fmt) fail('fmt_duplicate', `second fmt chunk at offset ${start}`);
      if (size < FMT_MIN) fail('fmt_too_short', `fmt chunk is ${size} bytes, need at least ${FMT_MIN}`);
      this.#fmtSize = size;
      this.#skipEnd = padded;
      this.#collect('fmt', Math.min(size, FMT_KEEP));
      return;
    }
    this.#skipTo(padded);
  }

  #onData(size: number, padded: number): void {
    const fmt = this.#fmt;
    if (!fmt) return fail('data_before_fmt', 'the data chunk comes before the fmt chunk');
    if (this.#dataOffset >= 0) fail('data_duplicate', `second data chunk at offset ${this.#pos - CHUNK_HEADER}`);
    if (this.#pos > this.#maxHeaderBytes) {
      fail('header_too_large', `the data chunk does not start within the first ${this.#maxHeaderBytes} bytes`);
    }
    if (size === 0) fail('data_empty', 'the data chunk is empty: the recording has no samples');
    if (size % fmt.blockAlign !== 0) {
      fail('data_misaligned', `data length ${size} is not a multiple of the block size ${fmt.blockAlign}`);
    }
    this.#dataOffset = this.#pos;
    this.#dataLength = size;
    this.#format = Object.freeze({
      codec: fmt.codec, sampleRate: fmt.sampleRate, channels: fmt.channels, bitsPerSample: fmt.bits,
      blockAlign: fmt.blockAlign, dataOffset: this.#pos,
    });
    this.#skipTo(padded);
  }

  #conclude(): WavInfo {
    if (this.#phase === 'riff') fail('truncated', `truncated: got ${this.#pos} bytes, less than a RIFF header`);
    if (this.#pos < this.#riffEnd) fail('truncated', `truncated: declared ${this.#riffEnd} bytes, got ${this.#pos}`);
    const format = this.#format;
    if (!this.#fmt) fail('fmt_missing', 'no fmt chunk');
    if (!format) return fail('data_missing', 'no data chunk');
    const frames = this.#dataLength / format.blockAlign;
    return Object.freeze({
      ...format,
      dataLength: this.#dataLength,
      durationMs: Math.round((frames * 1000) / format.sampleRate),
    });
  }
}

export function inspectWav(bytes: Uint8Array, opts?: { maxHeaderBytes?: number }): WavInfo {
  const inspector = new WavInspector(opts);
  inspector.feed(bytes);
  return inspector.finish();
}

// ---------------------------------------------------------------------------------------------
// Builders for tests and the demo client.

export interface WavExtraChunk {
  id: string;
  data: Uint8Array;
  /** 'start': before fmt; 'before': between fmt and data; 'after': after data. */
  where: 'start' | 'before' | 'after';
}

function chunk(id: string, data: Uint8Array): Buffer {
  if (!/^[\x20-\x7e]{4}$/.test(id)) throw new TypeError('chunk id must be 4 printable ASCII characters');
  const out = Buffer.alloc(CHUNK_HEADER + data.length + (data.length & 1));
  out.write(id, 0, 'latin1');
  out.writeUInt32LE(data.length, 4);
  out.set(data, CHUNK_HEADER);
  return out;
}

export function makeWav(opts: {
  codec: WavCodec;
  sampleRate: number;
  channels: 1 | 2;
  samples: Uint8Array;
  extraChunks?: WavExtraChunk[];
  extensible?: boolean;
}): Buffer {
  const bits = opts.codec === 'pcm_s16le' ? 16 : 8;
  const blockAlign = opts.channels * (bits / 8);
  const tag = CODEC_TAG[opts.codec];
  const fmt = Buffer.alloc(opts.extensible ? 40 : tag === TAG_PCM ? 16 : 18);
  fmt.writeUInt16LE(opts.extensible ? TAG_EXTENSIBLE : tag, 0);
  fmt.writeUInt16LE(opts.channels, 2);
  fmt.writeUInt32LE(opts.sampleRate, 4);
  fmt.writeUInt32LE(opts.sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(bits, 14);
  if (opts.extensible) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(bits, 18); // valid bits per sample
    fmt.writeUInt32LE(opts.channels === 1 ? 0x4 : 0x3, 20); // front centre, or front left + right
    fmt.writeUInt16LE(tag, 24);
    fmt.set(GUID_TAIL, 26);
  }
  const extra = opts.extraChunks ?? [];
  const at = (where: WavExtraChunk['where']) => extra.filter((c) => c.where === where).map((c) => chunk(c.id, c.data));
  const body = Buffer.concat([
    Buffer.from('WAVE', 'latin1'),
    ...at('start'),
    chunk('fmt ', fmt),
    ...at('before'),
    chunk('data', opts.samples),
    ...at('after'),
  ]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

/**
 * Interleaved signed 16-bit little-endian PCM: a sine at `hz` at half of full scale; in stereo
 * the second channel (the other call leg) is at 1.5 x hz so the legs can be told apart.
 */
export function sineWaveS16(opts: { sampleRate: number; seconds: number; hz: number; channels?: 1 | 2 }): Uint8Array {
  const channels = opts.channels ?? 1;
  const frames = Math.round(opts.sampleRate * opts.seconds);
  const out = new Uint8Array(frames * channels * 2);
  const view = new DataView(out.buffer);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < channels; c++) {
      const hz = c === 0 ? opts.hz : opts.hz * 1.5;
      const v = Math.round(16383 * Math.sin((2 * Math.PI * hz * f) / opts.sampleRate));
      view.setInt16((f * channels + c) * 2, v, true);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ITU-T G.711 encoders. Input: a linear sample on the 16-bit scale (rounded and clamped).
// u-law works on 14-bit magnitudes with a bias of 33 so that segment s (0..7) covers biased
// magnitudes [32 << s, 64 << s); the code is sign | segment | 4-bit step, all bits inverted.
// A-law works on 13-bit magnitudes; segments 0 and 1 share a step size, segment s >= 1 covers
// [16 << s, 32 << s); the code is sign | segment | step with the even bits inverted (xor 0x55).

function toInt16(sample: number): number {
  if (!Number.isFinite(sample)) return 0;
  return Math.max(-32768, Math.min(32767, Math.round(sample)));
}

function bitLength(v: number): number {
  return 32 - Math.clz32(v);
}

export function linearToMulaw(sample: number): number {
  const x = toInt16(sample) >> 2; // 14-bit
  const negative = x < 0;
  const magnitude = Math.min(negative ? -x : x, 8158) + 33; // 33..8191
  const segment = bitLength(magnitude) - 6; // 0..7
  const step = (magnitude >> (segment + 1)) & 0x0f;
  return ~((negative ? 0x80 : 0) | (segment << 4) | step) & 0xff;
}

export function linearToAlaw(sample: number): number {
  const x = toInt16(sample) >> 3; // 13-bit
  const negative = x < 0;
  const magnitude = negative ? -x - 1 : x; // 0..4095
  const segment = magnitude < 32 ? 0 : bitLength(magnitude) - 5; // 0..7
  const step = (magnitude >> (segment < 2 ? 1 : segment)) & 0x0f;
  return ((negative ? 0x00 : 0x80) | (segment << 4) | step) ^ 0x55;
}

/** Encodes interleaved s16le PCM (as from sineWaveS16) to A-law or u-law bytes. */
export function encodeG711(pcm: Uint8Array, codec: 'pcma' | 'pcmu'): Uint8Array {
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const out = new Uint8Array(pcm.byteLength >> 1);
  const encode = codec === 'pcma' ? linearToAlaw : linearToMulaw;
  for (let i = 0; i < out.length; i++) out[i] = encode(view.getInt16(i * 2, true));
  return out;
}
