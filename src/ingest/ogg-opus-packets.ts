/**
 * The packets of an Ogg Opus stream (RFC 7845 section 5, RFC 6716 section 3): the OpusHead and
 * OpusTags headers, and the framing of audio packets (TOC byte, frame count, frame lengths,
 * padding). Audio is never decoded: a packet is checked against rules R1 to R7 of RFC 6716
 * section 3.4 and its duration is read from its TOC sequence.
 *
 * Messages carry only fixed text and numbers; the vendor string and user comments of OpusTags
 * (free text, possibly personal data) are skipped without being kept or looked at.
 */
import { audioFail } from './audio-error.ts';

/** Audio packets larger than this are refused (RFC 7845 section 6: 61,440 octets per stream). */
export const MAX_AUDIO_PACKET = 61_440;
/** The OpusTags packet may not exceed this (its text is of no use to a call vault). */
export const MAX_TAGS_PACKET = 64 * 1024;
/** Leading bytes of an audio packet needed to check its framing (TOC, count, padding, lengths). */
export const PACKET_PREFIX = 400;

const MAX_FRAME = 1275;
const MAX_PACKET_SAMPLES = 5760; // 120 ms at 48 kHz

/** Samples at 48 kHz of one frame of TOC configuration 0..31 (RFC 6716 section 3.1, table 2). */
export function frameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!; // SILK: 10, 20, 40, 60 ms
  if (config < 16) return [480, 960][config & 1]!; // Hybrid: 10, 20 ms
  return [120, 240, 480, 960][config & 3]!; // CELT: 2.5, 5, 10, 20 ms
}

/**
 * Validates the framing of one Opus packet of `length` bytes whose first bytes are `head`
 * (at least min(length, PACKET_PREFIX) of them) and returns its duration in 48 kHz samples.
 * `label` names the packet in messages.
 */
/** `label` names the packet in an error; it is a function so that valid packets (nearly all) never build the text. */
export function opusPacketSamples(head: Uint8Array, length: number, label: string | (() => string)): number {
  const bad = (what: string): never => audioFail('opus_packet_invalid', `${typeof label === 'string' ? label : label()} is not a valid Opus packet: ${what}`);
  if (length === 0) bad('it is empty');
  const byte = (i: number): number => {
    if (i >= length) bad(`it ends at byte ${length}, inside its framing header`);
    if (i >= head.length) bad('its framing header is too long');
    return head[i]!;
  };
  /** A frame length at i (RFC 6716 section 3.2.1): [value, bytes used]. */
  const frameLength = (i: number): [number, number] => {
    const first = byte(i);
    return first < 252 ? [first, 1] : [byte(i + 1) * 4 + first, 2];
  };
  const toc = byte(0);
  const perFrame = frameSamples(toc >> 3);
  const payload = length - 1;
  switch (toc & 3) {
    case 0:
      if (payload > MAX_FRAME) bad(`a frame of ${payload} bytes exceeds ${MAX_FRAME}`); // R2
      return perFrame;
    case 1:
      if (payload % 2 !== 0) bad(`two equal frames cannot share ${payload} bytes`); // R3
      if (payload / 2 > MAX_FRAME) bad(`a frame of ${payload / 2} bytes exceeds ${MAX_FRAME}`); // R2
      return 2 * perFrame;
    case 2: {
      const [first, used] = frameLength(1);
      const second = payload - used - first;
      if (second < 0) bad(`its first frame of ${first} bytes runs past the end`); // R4
      if (second > MAX_FRAME) bad(`a frame of ${second} bytes exceeds ${MAX_FRAME}`); // R2
      return 2 * perFrame;
    }
    default: {
      const count = byte(1);
      const frames = count & 0x3f;
      if (frames === 0) bad('its frame count is 0'); // R5
      if (frames * perFrame > MAX_PACKET_SAMPLES) bad(`${frames} frames last more than 120 ms`); // R5
      let i = 2;
      let padding = 0;
      if (count & 0x40) {
        let v: number;
        do {
          v = byte(i++);
          padding += v === 255 ? 254 : v;
        } while (v === 255);
      }
      let left = length - i - padding; // bytes for frame lengths and frames
      if (left < 0) bad(`its ${padding} bytes of padding run past the end`); // R6, R7
      if (count & 0x80) {
        for (let k = 0; k < frames - 1; k++) {
          const [size, used] = frameLength(i);
          i += used;
          left -= used + size;
          if (left < 0) bad(`frame ${k + 1} of ${size} bytes runs past the end`); // R7
        }
        if (left > MAX_FRAME) bad(`its last frame of ${left} bytes exceeds ${MAX_FRAME}`); // R2
      } else {
        if (left % frames !== 0) bad(`${left} bytes do not divide into ${frames} equal frames`); // R6
        if (left / frames > MAX_FRAME) bad(`a frame of ${left / frames} bytes exceeds ${MAX_FRAME}`); // R2
      }
      return frames * perFrame;
    }
  }
}

export interface OpusHead {
  version: number;
  channels: 1 | 2;
  preSkip: number;
  /** Sample rate of the audio before encoding, informational (0: unspecified). */
  inputSampleRate: number;
  /** Gain to apply on decoding, in dB (Q7.8 in the header). */
  outputGainDb: number;
}

function startsWith(b: Uint8Array, bytes: readonly number[]): boolean {
  return b.length >= bytes.length && bytes.every((v, k) => b[k] === v);
}

const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const OPUS_HEAD = ascii('OpusHead');
const OPUS_TAGS = ascii('OpusTags');
const OTHER_CODECS: ReadonlyArray<[readonly number[], string]> = [
  [[0x01, ...ascii('vorbis')], 'Vorbis audio'],
  [[0x7f, ...ascii('FLAC')], 'FLAC audio'],
  [ascii('Speex   '), 'Speex audio'],
  [[0x80, ...ascii('theora')], 'Theora video'],
  [ascii('OggMIDI'), 'MIDI'],
];

/** Names the codec of a first packet that is not OpusHead, or says it is unknown. */
export function refuseFirstPacket(packet: Uint8Array): never {
  for (const [magic, name] of OTHER_CODECS) {
    if (startsWith(packet, magic)) audioFail('unsupported_codec', `the Ogg stream holds ${name}, not Opus`);
  }
  return audioFail('not_opus', 'the first Ogg packet is not an OpusHead header: not an Ogg Opus stream');
}

export function isOpusHeadStart(packet: Uint8Array): boolean {
  return startsWith(packet, OPUS_HEAD);
}

/** Parses a complete identification header (RFC 7845 section 5.1). */
export function parseOpusHead(b: Uint8Array): OpusHead {
  if (!startsWith(b, OPUS_HEAD)) refuseFirstPacket(b);
  if (b.length < 19) audioFail('opus_head_invalid', `the OpusHead header is ${b.length} bytes, need 19`);
  const version = b[8]!;
  if (version > 15) audioFail('opus_version_unsupported', `Ogg Opus version ${version >> 4}.${version & 15} is not supported (need 0.x)`);
  const channels = b[9]!;
  const family = b[18]!;
  if (family !== 0) {
    audioFail('unsupported_channel_mapping', `channel mapping family ${family}${family === 1 ? ' (multichannel)' : ''} ` +
      'is not supported: need family 0, mono or stereo');
  }
  if (channels !== 1 && channels !== 2) {
    audioFail('opus_head_invalid', `the OpusHead header declares ${channels} channels; mapping family 0 allows 1 or 2`);
  }
  if (version <= 1 && b.length !== 19) {
    audioFail('opus_head_invalid', `the OpusHead header is ${b.length} bytes; version 1 with mapping family 0 has 19`);
  }
  const gain = (b[16]! | (b[17]! << 8)) << 16 >> 16;
  return {
    version, channels, preSkip: b[10]! | (b[11]! << 8),
    inputSampleRate: (b[12]! | (b[13]! << 8) | (b[14]! << 16)) + b[15]! * 0x1000000, outputGainDb: gain / 256,
  };
}

type TagsField = 'magic' | 'vendorLength' | 'vendor' | 'count' | 'commentLength' | 'comment' | 'rest';

/**
 * Checks the structure of the comment header (RFC 7845 section 5.2) as its bytes stream in,
 * across pages, keeping nothing but counters: magic, vendor string length and string, comment
 * count, then each comment's length and string; anything after is allowed (padding).
 */
export class OpusTagsReader {
  #size = 0;
  #field: TagsField = 'magic';
  #left = 8; // bytes left in the current field
  #value = 0; // a 32-bit length being read
  #comments = 0; // comments still to read

  get size(): number {
    return this.#size;
  }

  feed(b: Uint8Array): void {
    const start = this.#size;
    this.#size += b.length;
    let i = 0;
    while (i < b.length && this.#field !== 'rest') {
      if (this.#field === 'magic') {
        if (b[i] !== OPUS_TAGS[8 - this.#left]) audioFail('tags_missing', 'the second Ogg packet is not an OpusTags header');
        i++;
        if (--this.#left === 0) this.#begin('vendorLength', 4);
      } else if (this.#field === 'vendorLength' || this.#field === 'count' || this.#field === 'commentLength') {
        this.#value += b[i++]! * 2 ** (8 * (4 - this.#left));
        if (--this.#left === 0) this.#onLength(start + i);
      } else {
        const take = Math.min(this.#left, b.length - i);
        i += take;
        this.#left -= take;
        if (this.#left === 0) this.#afterString();
      }
    }
    if (this.#size > MAX_TAGS_PACKET) audioFail('tags_too_large', `the OpusTags header exceeds ${MAX_TAGS_PACKET} bytes`);
  }

  /** The packet ended: every declared string must have been complete. */
  end(): void {
    if (this.#field === 'magic') audioFail('tags_missing', 'the second Ogg packet is not an OpusTags header');
    if (this.#field !== 'rest') {
      audioFail('tags_invalid', `the OpusTags header ends after ${this.#size} bytes, inside its ${
        this.#field === 'vendor' || this.#field === 'vendorLength' ? 'vendor string' : 'comment list'}`);
    }
  }

  #begin(field: TagsField, bytes: number): void {
    this.#field = field;
    this.#left = bytes;
    this.#value = 0;
  }

  /** A length field ended at packet offset `at`. */
  #onLength(at: number): void {
    const v = this.#value;
    const need = this.#field === 'count' ? 4 * v : v; // each comment needs at least its length field
    if (at + need > MAX_TAGS_PACKET) {
      audioFail('tags_too_large', `the OpusTags header declares more than ${MAX_TAGS_PACKET} bytes of text`);
    }
    if (this.#field === 'count') {
      this.#comments = v;
      if (v === 0) this.#begin('rest', 0);
      else this.#begin('commentLength', 4);
      return;
    }
    this.#begin(this.#field === 'vendorLength' ? 'vendor' : 'comment', v);
    if (v === 0) this.#afterString();
  }

  #afterString(): void {
    if (this.#field === 'vendor') {
      this.#begin('count', 4);
    } else if (--this.#comments === 0) {
      this.#begin('rest', 0);
    } else {
      this.#begin('commentLength', 4);
    }
  }
}
