/**
 * Builders of Ogg Opus streams for tests and the demo load generator: Ogg pages with correct
 * CRCs, OpusHead and OpusTags headers, and syntactically valid Opus audio packets (a TOC byte
 * and pseudo-random frame data: noise, never decoded here) with correct granule positions.
 */
import { FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, OGG_HEADER, oggCrc32 } from './ogg.ts';
import { OPUS_RATE } from './ogg-opus.ts';
import { xorshift32 } from '../lib/xorshift.ts';

/** One Ogg page, laid out byte for byte; `crc` overrides the computed checksum (for tests). */
export function oggPage(p: {
  flags: number; granule: number | bigint; serial: number; sequence: number; lacing: number[]; body: Uint8Array; crc?: number;
}): Buffer {
  if (p.lacing.length > 255) throw new RangeError(`an Ogg page holds at most 255 lacing values, not ${p.lacing.length}`);
  const out = Buffer.alloc(OGG_HEADER + p.lacing.length + p.body.length);
  out.write('OggS', 0, 'latin1');
  out[4] = 0;
  out[5] = p.flags;
  out.writeBigUInt64LE(BigInt.asUintN(64, BigInt(p.granule)), 6);
  out.writeUInt32LE(p.serial >>> 0, 14);
  out.writeUInt32LE(p.sequence >>> 0, 18);
  out[26] = p.lacing.length;
  out.set(p.lacing, OGG_HEADER);
  out.set(p.body, OGG_HEADER + p.lacing.length);
  out.writeUInt32LE(p.crc ?? oggCrc32(out), 22);
  return out;
}

export interface OggPageSpec {
  /** Packet pieces; each ends its packet, except the last one when `open`. */
  packets: Uint8Array[];
  /** Granule position; -1 for "no packet completes here". */
  granule: number | bigint;
  bos?: boolean;
  eos?: boolean;
  /** The first piece continues a packet begun on the page before. */
  continued?: boolean;
  /** The last piece does not end its packet: its length must be a positive multiple of 255. */
  open?: boolean;
}

/** Writes the pages of one logical stream, numbering them. */
export class OggWriter {
  readonly serial: number;
  #sequence: number;

  constructor(opts: { serial?: number; sequence?: number } = {}) {
    this.serial = opts.serial ?? 0x0ca11ed;
    this.#sequence = opts.sequence ?? 0;
  }

  page(spec: OggPageSpec): Buffer {
    const lacing: number[] = [];
    spec.packets.forEach((piece, k) => {
      const open = spec.open === true && k === spec.packets.length - 1;
      if (open && (piece.length === 0 || piece.length % 255 !== 0)) throw new RangeError('an open piece must be a positive multiple of 255 bytes');
      for (let n = piece.length; n >= 255; n -= 255) lacing.push(255);
      if (!open) lacing.push(piece.length % 255);
    });
    const flags = (spec.continued ? FLAG_CONTINUED : 0) | (spec.bos ? FLAG_BOS : 0) | (spec.eos ? FLAG_EOS : 0);
    return oggPage({ flags, granule: spec.granule, serial: this.serial, sequence: this.#sequence++, lacing, body: Buffer.concat(spec.packets) });
  }
}

export function opusHeadPacket(o: {
  channels: number; preSkip?: number; inputSampleRate?: number; gainQ8?: number; version?: number; family?: number; extra?: Uint8Array;
}): Buffer {
  const b = Buffer.alloc(19);
  b.write('OpusHead', 0, 'latin1');
  b[8] = o.version ?? 1;
  b[9] = o.channels;
  b.writeUInt16LE(o.preSkip ?? 312, 10);
  b.writeUInt32LE(o.inputSampleRate ?? 48000, 12);
  b.writeInt16LE(o.gainQ8 ?? 0, 16);
  b[18] = o.family ?? 0;
  return o.extra ? Buffer.concat([b, o.extra]) : b;
}

export function opusTagsPacket(o: { vendor?: string; comments?: string[]; padding?: number } = {}): Buffer {
  const field = (s: string) => {
    const text = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(text.length);
    return Buffer.concat([len, text]);
  };
  const comments = o.comments ?? [];
  const count = Buffer.alloc(4);
  count.writeUInt32LE(comments.length);
  return Buffer.concat([Buffer.from('OpusTags', 'latin1'), field(o.vendor ?? 'callvault test encoder'), count, ...comments.map(field), Buffer.alloc(o.padding ?? 0)]);
}

export type OpusFrameMs = 2.5 | 5 | 10 | 20 | 40 | 60;

/** TOC configurations: CELT fullband for 2.5..20 ms, SILK wideband for 40 and 60 ms. */
const CONFIG: Record<OpusFrameMs, number> = { 2.5: 28, 5: 29, 10: 30, 20: 31, 40: 10, 60: 11 };

/** A deterministic pseudo-random byte source (xorshift32). */
export function noiseBytes(seed: number): (n: number) => Uint8Array {
  const next = xorshift32(seed);
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = next() & 0xff;
    return out;
  };
}

/** A code-0 Opus packet: one frame of `frameMs`, `payload` bytes of noise. */
export function opusPacket(o: { frameMs: OpusFrameMs; channels: 1 | 2; payload: number; noise: (n: number) => Uint8Array }): Uint8Array {
  const out = new Uint8Array(1 + o.payload);
  out[0] = (CONFIG[o.frameMs] << 3) | (o.channels === 2 ? 0x04 : 0);
  out.set(o.noise(o.payload), 1);
  return out;
}

/**
 * A valid Ogg Opus stream of `seconds` of noise in packets of `frameMs` (default 20), pages of up
 * to one second. With eos (the default) the last page is marked end-of-stream and end-trimmed so
 * that the stream lasts exactly round(seconds * 48000) samples after pre-skip (default 312);
 * without it (a live stream still going on) the last granule counts every decoded sample.
 */
export function makeOggOpus(opts: { channels: 1 | 2; seconds: number; frameMs?: OpusFrameMs; preSkip?: number; eos?: boolean }): Buffer {
  const frameMs = opts.frameMs ?? 20;
  const preSkip = opts.preSkip ?? 312;
  const eos = opts.eos ?? true;
  if (opts.channels !== 1 && opts.channels !== 2) throw new RangeError('channels must be 1 or 2');
  if (!(opts.seconds > 0) || !Number.isFinite(opts.seconds)) throw new RangeError('seconds must be a positive number');
  if (!(frameMs in CONFIG)) throw new RangeError('frameMs must be 2.5, 5, 10, 20, 40 or 60');
  if (!Number.isInteger(preSkip) || preSkip < 0 || preSkip > 0xffff) throw new RangeError('preSkip must be an integer from 0 to 65535');
  const perPacket = (OPUS_RATE * frameMs) / 1000;
  const wanted = Math.round(opts.seconds * OPUS_RATE);
  const packets = Math.ceil((preSkip + wanted) / perPacket);
  const payload = Math.max(4, Math.round(frameMs * 3 * opts.channels));
  const lacingPerPacket = Math.floor((1 + payload) / 255) + 1;
  const perPage = Math.max(1, Math.min(Math.round(1000 / frameMs), Math.floor(255 / lacingPerPacket)));
  const noise = noiseBytes(0x5eed + opts.channels * 7 + packets);
  const w = new OggWriter();
  const pages: Buffer[] = [
    w.page({ packets: [opusHeadPacket({ channels: opts.channels, preSkip })], granule: 0, bos: true }),
    w.page({ packets: [opusTagsPacket()], granule: 0 }),
  ];
  for (let done = 0; done < packets;) {
    const n = Math.min(perPage, packets - done);
    const batch = Array.from({ length: n }, () => opusPacket({ frameMs, channels: opts.channels, payload, noise }));
    done += n;
    const last = done === packets;
    const granule = last && eos ? preSkip + wanted : done * perPacket;
    pages.push(w.page({ packets: batch, granule, eos: last && eos }));
  }
  return Buffer.concat(pages);
}
