/**
 * Ogg framing (RFC 3533) for streaming validation: reads pages out of bytes fed in any split,
 * checks each page and the page sequence of one logical stream, and hands complete, verified
 * pages to a codec layer (ogg-opus.ts).
 *
 * Invariants:
 * - Memory: at most one page is held (header, lacing table and body: 65,307 bytes at most, by
 *   construction of the format). The buffer grows to the largest page seen, never further.
 * - Checked as soon as the byte arrives: capture pattern, version, header flags (undefined bits,
 *   BOS on the first page only), and any byte after an end-of-stream page. Checked once the
 *   27-byte header is in: serial (one logical stream), sequence (no gap) and granule range.
 *   Checked when the page is complete: CRC-32. So a corrupted header field may be reported as
 *   that field's error rather than as a CRC mismatch; both are errors.
 * - A page is handed on only after its CRC matched; the views it carries are valid only during
 *   the callback.
 */
import { audioFail } from './audio-error.ts';

export const OGG_HEADER = 27;
export const MAX_PAGE_BYTES = OGG_HEADER + 255 + 255 * 255; // 65,307
export const FLAG_CONTINUED = 0x01;
export const FLAG_BOS = 0x02;
export const FLAG_EOS = 0x04;

// CRC-32 of RFC 3533: polynomial 0x04c11db7, MSB first, initial value 0, no final xor.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

/** Continues a CRC over `bytes` (start with 0). */
export function oggCrc32(bytes: Uint8Array, crc = 0): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) c = (c << 8) ^ CRC_TABLE[((c >>> 24) ^ bytes[i]!) & 0xff]!;
  return c >>> 0;
}

export interface OggPage {
  /** 0-based position of the page in the stream. */
  index: number;
  flags: number;
  /** null for -1 ("no packet completes on this page"). */
  granule: number | null;
  sequence: number;
  /** Lacing values; a value below 255 ends a packet. */
  lacing: Uint8Array;
  body: Uint8Array;
}

const CAPTURE = [0x4f, 0x67, 0x67, 0x53]; // "OggS"

function u32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

export class OggPageReader {
  readonly #onPage: (page: OggPage) => void;
  #buf = new Uint8Array(OGG_HEADER + 255);
  #have = 0;
  #want = OGG_HEADER; // grows to header + lacing, then to the whole page
  #stage: 'header' | 'lacing' | 'body' = 'header';
  #pos = 0; // stream offset of the next byte
  #pageStart = 0;
  #pages = 0;
  #serial = 0;
  #nextSequence = 0;
  #ended = false; // an EOS page was read

  constructor(onPage: (page: OggPage) => void) {
    this.#onPage = onPage;
  }

  /** Bytes of the current, incomplete page held in memory. */
  get bufferedBytes(): number {
    return this.#have;
  }

  /** True when the bytes so far end exactly at a page boundary. */
  get atPageBoundary(): boolean {
    return this.#have === 0;
  }

  feed(piece: Uint8Array): void {
    let i = 0;
    const n = piece.length;
    while (i < n) {
      if (this.#ended) {
        audioFail('data_after_eos', `bytes follow the end-of-stream page, from byte ${this.#pos}`);
      }
      if (this.#have < OGG_HEADER) {
        // Byte by byte through the fixed header, so each field is checked on arrival.
        this.#buf[this.#have++] = piece[i++]!;
        this.#pos++;
        this.#onHeaderByte(this.#have - 1);
      } else {
        const take = Math.min(this.#want - this.#have, n - i);
        this.#buf.set(piece.subarray(i, i + take), this.#have);
        this.#have += take;
        this.#pos += take;
        i += take;
      }
      if (this.#have === this.#want) this.#advance();
    }
  }

  #onHeaderByte(k: number): void {
    const b = this.#buf;
    const at = this.#pageStart;
    if (k < 4) {
      if (b[k] !== CAPTURE[k]) {
        audioFail('not_ogg', this.#pages === 0 ? 'not an Ogg stream' : `no Ogg page at byte ${at} (capture pattern missing)`);
      }
    } else if (k === 4) {
      if (b[4] !== 0) audioFail('ogg_version_unsupported', `Ogg page at byte ${at} has version ${b[4]}, only 0 exists`);
    } else if (k === 5) {
      const flags = b[5]!;
      if (flags & ~0x07) audioFail('page_flags_invalid', `Ogg page at byte ${at} sets undefined header flags`);
      if (this.#pages === 0 && !(flags & FLAG_BOS)) audioFail('bos_missing', 'the first Ogg page is not marked as the beginning of a stream');
      if (this.#pages > 0 && flags & FLAG_BOS) {
        audioFail('multiple_streams', `a second logical stream begins at byte ${at}: multiplexed or chained Ogg streams are not supported`);
      }
    }
  }

  #advance(): void {
    const b = this.#buf;
    if (this.#stage === 'header') {
      this.#checkHeader();
      this.#stage = 'lacing';
      this.#want = OGG_HEADER + b[26]!;
      if (this.#want > this.#have) return;
    }
    if (this.#stage === 'lacing') {
      let body = 0;
      for (let k = OGG_HEADER; k < this.#want; k++) body += b[k]!;
      const total = this.#want + body;
      if (total > b.length) {
        const grown = new Uint8Array(Math.min(MAX_PAGE_BYTES, Math.max(total, b.length * 2)));
        grown.set(b.subarray(0, this.#have));
        this.#buf = grown;
      }
      this.#stage = 'body';
      this.#want = total;
      if (total > this.#have) return;
    }
    this.#completePage();
  }

  #checkHeader(): void {
    const b = this.#buf;
    const at = this.#pageStart;
    const serial = u32(b, 14);
    const sequence = u32(b, 18);
    if (this.#pages === 0) {
      this.#serial = serial;
    } else {
      if (serial !== this.#serial) {
        audioFail('multiple_streams', `Ogg page at byte ${at} belongs to another logical stream: multiplexed Ogg streams are not supported`);
      }
      if (sequence !== this.#nextSequence) {
        audioFail('sequence_gap', `Ogg page at byte ${at} has sequence number ${sequence}, expected ${this.#nextSequence}`);
      }
    }
    this.#nextSequence = (sequence + 1) >>> 0;
    this.#granule(); // range check now, value used when the page completes
  }

  /** The granule position, null for -1; an error for other negative values or beyond 2^53. */
  #granule(): number | null {
    const b = this.#buf;
    const lo = u32(b, 6);
    const hi = u32(b, 10);
    if (hi === 0xffffffff && lo === 0xffffffff) return null;
    if (hi >= 0x200000) {
      audioFail('granule_invalid', `Ogg page at byte ${this.#pageStart} has an invalid granule position (negative or beyond 2^53)`);
    }
    return hi * 0x100000000 + lo;
  }

  #completePage(): void {
    const b = this.#buf;
    const size = this.#want;
    const stored = u32(b, 22);
    b.fill(0, 22, 26);
    const crc = oggCrc32(b.subarray(0, size));
    if (crc !== stored) audioFail('crc_mismatch', `Ogg page at byte ${this.#pageStart} fails its CRC check (corrupted)`);
    const lacingEnd = OGG_HEADER + b[26]!;
    const page: OggPage = {
      index: this.#pages,
      flags: b[5]!,
      granule: this.#granule(),
      sequence: u32(b, 18),
      lacing: b.subarray(OGG_HEADER, lacingEnd),
      body: b.subarray(lacingEnd, size),
    };
    this.#pages++;
    this.#have = 0;
    this.#want = OGG_HEADER;
    this.#stage = 'header';
    this.#pageStart = this.#pos;
    if (page.flags & FLAG_EOS) this.#ended = true;
    this.#onPage(page);
  }
}
