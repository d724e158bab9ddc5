/**
 * Streaming validation of uploaded WAV call recordings, plus a small WAV builder for tests and
 * the demo client (the G.711 encoders live in g711.ts and are re-exported here).
 *
 * Invariants:
 * - Memory: the inspector holds at most FMT_KEEP (40) bytes of the stream at any time (the
 *   RIFF header, one chunk header, or the start of the fmt chunk). Audio and the bodies of
 *   other chunks are counted and skipped, never copied or referenced.
 * - Safe errors: a WavError (an AudioError) message is built only from fixed text and numbers
 *   (sizes, offsets, format tags), never from bytes of the file (chunk ids, LIST/INFO text,
 *   samples), so it can be returned in an HTTP 400/415 body and logged.
 * - Fail early: feed() throws as soon as the bytes seen so far prove the file invalid; after a
 *   failure every later call throws the same error. finish() failing (e.g. truncated) does not
 *   poison finishTruncated(): a caller may fall back to describing the well-formed prefix.
 * - Accepted: RIFF/WAVE, exactly one fmt chunk before exactly one non-empty data chunk, 16-bit
 *   PCM, 8-bit A-law or 8-bit u-law (plain or WAVE_FORMAT_EXTENSIBLE), 1 or 2 channels,
 *   8000..48000 Hz, consistent blockAlign and byteRate, sizes matching the bytes received.
 * - Streamed files (option allowUnknownSizes, for live uploads): a writer that cannot seek back
 *   leaves its sizes unknown. Then a RIFF size of 0 or 0xFFFFFFFF means "unknown": chunks run to
 *   the end of the stream, which must end between chunks or inside the data chunk (whose size is
 *   then read as a placeholder written before the length was known). A data size of 0 or
 *   0xFFFFFFFF means "until the end": data must be the last chunk, its length is what arrives
 *   (a RIFF size is then ignored). A file whose RIFF size is known keeps every strict check, so
 *   one cut short (even with self-consistent placeholder sizes, as some tools write) fails
 *   finish() as truncated; finishTruncated() then describes the complete frames that arrived.
 */
import { AudioError } from './audio-error.ts';

export { encodeG711, linearToAlaw, linearToMulaw, sineWaveS16 } from './g711.ts';

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

export interface WavInspectorOptions {
  maxHeaderBytes?: number;
  /** Accept the unknown and placeholder sizes of a streamed (live) WAV; see the file comment. */
  allowUnknownSizes?: boolean;
}

/** Machine-readable failure codes; see AudioError for which ones mean "valid WAV, unsupported encoding" (415). */
export type WavErrorReason =
  | 'not_riff' | 'rf64_unsupported' | 'rifx_unsupported' | 'not_wave' | 'riff_size_invalid'
  | 'bad_chunk_id' | 'chunk_overruns_riff' | 'stray_bytes' | 'trailing_bytes' | 'truncated'
  | 'header_too_large' | 'fmt_too_short' | 'fmt_duplicate' | 'fmt_missing' | 'extensible_invalid'
  | 'unsupported_format' | 'unsupported_bits' | 'unsupported_channels' | 'unsupported_sample_rate'
  | 'inconsistent_block_align' | 'inconsistent_byte_rate'
  | 'data_before_fmt' | 'data_duplicate' | 'data_missing' | 'data_empty' | 'data_misaligned';

export class WavError extends AudioError<WavErrorReason> {
  constructor(reason: WavErrorReason, message: string) {
    super(reason, message);
    this.name = 'WavError';
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

type Phase = 'riff' | 'chunk' | 'fmt' | 'skip' | 'open' | 'trailer';

/** Values a streaming writer leaves in a size field it could not fill in. */
function isUnknownSize(size: number): boolean {
  return size === 0 || size === 0xffffffff;
}

export class WavInspector {
  readonly #maxHeaderBytes: number;
  readonly #unknownSizes: boolean;
  readonly #scratch = new Uint8Array(FMT_KEEP);
  #phase: Phase = 'riff';
  #have = 0; // bytes collected into #scratch in the 'riff' | 'chunk' | 'fmt' phases
  #want = RIFF_HEADER;
  #pos = 0; // offset of the next byte to consume
  #fed = 0;
  #skip = 0; // bytes left to skip in the 'skip' phase
  #skipEnd = 0;
  #riffEnd = 0; // offset just past the RIFF chunk as declared; Infinity when unknown
  #padAllowed = 0; // one pad byte may follow an odd-sized RIFF chunk
  #fmtSize = 0;
  #fmt: ParsedFmt | null = null;
  #format: WavFormat | null = null;
  #dataOffset = -1;
  #dataLength = 0; // declared
  #dataEnd = Infinity; // offset just past the declared data; Infinity for "until the end"
  #error: WavError | null = null;
  #closed = false;
  #info: WavInfo | null = null;
  #prefixInfo: WavInfo | null = null;

  constructor(opts: WavInspectorOptions = {}) {
    const max = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError('maxHeaderBytes must be a positive integer');
    this.#maxHeaderBytes = max;
    this.#unknownSizes = opts.allowUnknownSizes ?? false;
  }

  get format(): WavFormat | null {
    return this.#format;
  }

  get bytesSeen(): number {
    return this.#fed;
  }

  /** Bytes of the stream currently held in memory (never more than 40); exposed for tests. */
  get bufferedBytes(): number {
    return this.#phase === 'riff' || this.#phase === 'chunk' || this.#phase === 'fmt' ? this.#have : 0;
  }

  feed(piece: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new Error('WavInspector.feed() called after finish()');
    this.#fed += piece.length;
    try {
      this.#consume(piece);
    } catch (err) {
      if (err instanceof WavError) this.#error = err;
      throw err;
    }
  }

  /** End of a complete file: every size must be honoured (see the file comment for streamed files). */
  finish(): WavInfo {
    if (this.#error) throw this.#error;
    this.#closed = true;
    this.#info ??= this.#conclude();
    return this.#info;
  }

  /**
   * End of a stream cut short: describes the complete sample frames that arrived. Throws only
   * when the header never completed (no data chunk yet), or when feed() had already failed.
   */
  finishTruncated(): WavInfo {
    if (this.#error) throw this.#error;
    this.#closed = true;
    this.#prefixInfo ??= this.#concludePrefix();
    return this.#prefixInfo;
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
      } else if (this.#phase === 'open') {
        this.#pos += n - i;
        i = n;
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
      if (this.#unknownSizes && isUnknownSize(riffSize)) {
        this.#riffEnd = Infinity;
      } else {
        const minimum = 4 + 2 * CHUNK_HEADER + FMT_MIN;
        if (riffSize < minimum) fail('riff_size_invalid', `RIFF size ${riffSize} is below the minimum of ${minimum}`);
        this.#riffEnd = 8 + riffSize;
        this.#padAllowed = riffSize & 1;
      }
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
    const id = String.fromCharCode(b[0]!, b[1]!, b[2]!, b[3]!); // compared only, never reported
    if (id === 'data' && this.#unknownSizes && isUnknownSize(size)) {
      this.#onData(null);
      return;
    }
    const end = this.#pos + size;
    if (end > this.#riffEnd) {
      fail('chunk_overruns_riff',
        `chunk at offset ${start} declares ${size} bytes, past the RIFF end at ${this.#riffEnd}`);
    }
    // A pad byte that would fall past the RIFF end is the RIFF chunk's own pad (see #padAllowed).
    const padded = Math.min(end + (size & 1), this.#riffEnd);
    if (id === 'data') {
      this.#onData({ size, padded });
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

  /** `declared` is null for a data chunk of unknown size, which runs to the end of the stream. */
  #onData(declared: { size: number; padded: number } | null): void {
    const fmt = this.#fmt;
    if (!fmt) return fail('data_before_fmt', 'the data chunk comes before the fmt chunk');
    if (this.#dataOffset >= 0) fail('data_duplicate', `second data chunk at offset ${this.#pos - CHUNK_HEADER}`);
    if (this.#pos > this.#maxHeaderBytes) {
      fail('header_too_large', `the data chunk does not start within the first ${this.#maxHeaderBytes} bytes`);
    }
    if (declared) {
      if (declared.size === 0) fail('data_empty', 'the data chunk is empty: the recording has no samples');
      if (declared.size % fmt.blockAlign !== 0) {
        fail('data_misaligned', `data length ${declared.size} is not a multiple of the block size ${fmt.blockAlign}`);
      }
    }
    this.#dataOffset = this.#pos;
    this.#format = Object.freeze({
      codec: fmt.codec, sampleRate: fmt.sampleRate, channels: fmt.channels, bitsPerSample: fmt.bits,
      blockAlign: fmt.blockAlign, dataOffset: this.#pos,
    });
    if (declared) {
      this.#dataLength = declared.size;
      this.#dataEnd = this.#pos + declared.size;
      this.#skipTo(declared.padded);
    } else {
      this.#phase = 'open';
      this.#have = 0;
    }
  }

  #infoFor(format: WavFormat, dataLength: number): WavInfo {
    const frames = Math.floor(dataLength / format.blockAlign);
    return Object.freeze({ ...format, dataLength, durationMs: Math.round((frames * 1000) / format.sampleRate) });
  }

  #conclude(): WavInfo {
    const pos = this.#pos;
    if (this.#phase === 'riff') fail('truncated', `truncated: got ${pos} bytes, less than a RIFF header`);
    const format = this.#format;
    if (format && pos < this.#dataEnd) {
      // The stream stopped inside the data chunk: fine only when the sizes were left unknown
      // (data "until the end", or any data size under an unknown RIFF size: a placeholder).
      if (this.#riffEnd !== Infinity && this.#dataEnd !== Infinity) fail('truncated', `truncated: declared ${this.#riffEnd} bytes, got ${pos}`);
      const length = pos - format.dataOffset;
      if (length === 0) fail('data_empty', 'the data chunk is empty: the recording has no samples');
      if (length % format.blockAlign !== 0) {
        fail('data_misaligned', `data length ${length} is not a multiple of the block size ${format.blockAlign}`);
      }
      return this.#infoFor(format, length);
    }
    if (this.#riffEnd === Infinity) {
      if (this.#phase !== 'chunk' || this.#have !== 0) fail('truncated', `truncated: the stream ends inside a chunk, at byte ${pos}`);
    } else if (pos < this.#riffEnd) {
      fail('truncated', `truncated: declared ${this.#riffEnd} bytes, got ${pos}`);
    }
    if (!this.#fmt) fail('fmt_missing', 'no fmt chunk');
    if (!format) return fail('data_missing', 'no data chunk');
    return this.#infoFor(format, this.#dataLength);
  }

  #concludePrefix(): WavInfo {
    const format = this.#format;
    if (!format) {
      return fail('truncated', this.#phase === 'riff'
        ? `truncated: got ${this.#pos} bytes, less than a RIFF header`
        : `truncated: the stream ends at byte ${this.#pos}, before the data chunk`);
    }
    const arrived = Math.min(this.#pos, this.#dataEnd) - format.dataOffset;
    return this.#infoFor(format, arrived - (arrived % format.blockAlign));
  }
}

export function inspectWav(bytes: Uint8Array, opts?: WavInspectorOptions): WavInfo {
  const inspector = new WavInspector(opts);
  inspector.feed(bytes);
  return inspector.finish();
}

// ---------------------------------------------------------------------------------------------
// Builders for tests and the demo client (G.711 encoders and the tone source live in g711.ts).

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

/** The fmt chunk body for `codec` (plain, or WAVE_FORMAT_EXTENSIBLE). */
function fmtBody(o: { codec: WavCodec; sampleRate: number; channels: number; extensible?: boolean }): Buffer {
  const bits = o.codec === 'pcm_s16le' ? 16 : 8;
  const blockAlign = o.channels * (bits / 8);
  const tag = CODEC_TAG[o.codec];
  const fmt = Buffer.alloc(o.extensible ? 40 : tag === TAG_PCM ? 16 : 18);
  fmt.writeUInt16LE(o.extensible ? TAG_EXTENSIBLE : tag, 0);
  fmt.writeUInt16LE(o.channels, 2);
  fmt.writeUInt32LE(o.sampleRate, 4);
  fmt.writeUInt32LE(o.sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(bits, 14);
  if (o.extensible) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(bits, 18); // valid bits per sample
    fmt.writeUInt32LE(o.channels === 1 ? 0x4 : 0x3, 20); // front centre, or front left + right
    fmt.writeUInt16LE(tag, 24);
    fmt.set(GUID_TAIL, 26);
  }
  return fmt;
}

/**
 * The header of a plain WAV whose `dataLength` bytes of samples follow it directly (playback of
 * raw G.711 as WAV). An odd data chunk is the last chunk and gets no pad byte, so the RIFF size
 * leaves the pad out.
 */
export function wavHeader(o: { codec: WavCodec; sampleRate: number; channels: number; dataLength: number }): Buffer {
  const fmt = chunk('fmt ', fmtBody(o));
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + fmt.length + 8 + o.dataLength, 4);
  head.write('WAVE', 8, 'latin1');
  const data = Buffer.alloc(8);
  data.write('data', 0, 'latin1');
  data.writeUInt32LE(o.dataLength, 4);
  return Buffer.concat([head, fmt, data]);
}

export function makeWav(opts: {
  codec: WavCodec;
  sampleRate: number;
  channels: 1 | 2;
  samples: Uint8Array;
  extraChunks?: WavExtraChunk[];
  extensible?: boolean;
}): Buffer {
  const extra = opts.extraChunks ?? [];
  const at = (where: WavExtraChunk['where']) => extra.filter((c) => c.where === where).map((c) => chunk(c.id, c.data));
  const body = Buffer.concat([
    Buffer.from('WAVE', 'latin1'),
    ...at('start'),
    chunk('fmt ', fmtBody(opts)),
    ...at('before'),
    chunk('data', opts.samples),
    ...at('after'),
  ]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}
