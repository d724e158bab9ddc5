/**
 * Streaming validation of an Ogg Opus upload (RFC 7845): one logical stream whose first page
 * holds the OpusHead packet alone, followed by the OpusTags packet (which may span pages and
 * ends its page), followed by audio pages.
 *
 * Invariants:
 * - Memory: one Ogg page (ogg.ts) plus the first PACKET_PREFIX bytes of the audio packet in
 *   progress, which may span pages. Nothing else of the stream is kept.
 * - Pages are processed whole, after their CRC matched, so every Opus-level check happens at a
 *   fixed byte position: results do not depend on how the bytes were split.
 * - Granule positions (RFC 7845 section 4): 0 on the header pages; present on every page where
 *   a packet completes (on other pages it should be -1 and is ignored); never backwards; the first
 *   audio page's granule covers the samples of the packets completing on it (section 4.5),
 *   unless it is also the last page. Forward jumps are tolerated (a muxer that did not fill a
 *   network gap with PLC packets, section 4.1): the duration then includes the gap.
 * - Duration = (last granule - start - pre-skip) / 48 kHz, where start is 0 unless the stream
 *   was joined mid-way (first granule larger than the samples on that page).
 */
import { AudioError, audioFail } from './audio-error.ts';
import type { AudioFormat, AudioInfo, AudioInspector } from './audio.ts';
import { FLAG_CONTINUED, FLAG_EOS, OggPageReader, type OggPage } from './ogg.ts';
import {
  MAX_AUDIO_PACKET, OpusTagsReader, PACKET_PREFIX, isOpusHeadStart, opusPacketSamples, parseOpusHead, refuseFirstPacket,
  type OpusHead,
} from './ogg-opus-packets.ts';

export const OPUS_RATE = 48_000;

export class OggOpusInspector implements AudioInspector {
  readonly #reader = new OggPageReader((page) => this.#onPage(page));
  #fed = 0;
  #error: AudioError | null = null;
  #closed = false;
  #stage: 'head' | 'tags' | 'audio' = 'head';
  #head: OpusHead | null = null;
  #format: AudioFormat | null = null;
  readonly #tags = new OpusTagsReader();
  #open = false; // the last page with packet data ended inside a packet
  #audioPages = 0; // audio pages with packet data
  readonly #packet = new Uint8Array(PACKET_PREFIX);
  #packetHave = 0;
  #packetLength = 0;
  #orphan = false; // the packet in progress began before the stream did (joined mid-way)
  #packets = 0; // audio packets completed
  #start = 0;
  #lastGranule: number | null = null;
  #eos = false;

  get bytesSeen(): number {
    return this.#fed;
  }

  get format(): AudioFormat | null {
    return this.#format;
  }

  /** The identification header once read: pre-skip, input sample rate, output gain. */
  get opusHead(): Readonly<OpusHead> | null {
    return this.#head;
  }

  get bufferedBytes(): number {
    return this.#reader.bufferedBytes + this.#packetHave;
  }

  feed(piece: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new Error('AudioInspector.feed() called after finish()');
    this.#fed += piece.length;
    try {
      this.#reader.feed(piece);
    } catch (err) {
      if (err instanceof AudioError) this.#error = err;
      throw err;
    }
  }

  finish(): AudioInfo {
    if (this.#error) throw this.#error;
    this.#closed = true;
    if (!this.#reader.atPageBoundary) audioFail('truncated', `truncated: the stream ends inside an Ogg page, at byte ${this.#fed}`);
    if (this.#stage !== 'audio') audioFail('truncated', `truncated: the stream ends at byte ${this.#fed}, before its Opus headers are complete`);
    if (!this.#eos) audioFail('eos_missing', 'the stream has no end-of-stream page: it may have been cut short');
    if (this.#lastGranule === null) audioFail('no_audio', 'the stream holds no audio packets');
    const samples = this.#lastGranule - this.#start - this.#head!.preSkip;
    if (samples < 0) {
      audioFail('granule_invalid', `the final granule position ${this.#lastGranule} leaves less audio than the pre-skip of ${this.#head!.preSkip} samples`);
    }
    return this.#info(samples);
  }

  finishTruncated(): AudioInfo {
    if (this.#error) throw this.#error;
    this.#closed = true;
    if (this.#stage !== 'audio') audioFail('truncated', `truncated: the stream ends at byte ${this.#fed}, before its Opus headers are complete`);
    const last = this.#lastGranule;
    return this.#info(last === null ? 0 : Math.max(0, last - this.#start - this.#head!.preSkip));
  }

  #info(samples: number): AudioInfo {
    return Object.freeze({ ...this.#format!, durationMs: Math.round((samples * 1000) / OPUS_RATE) });
  }

  #onPage(page: OggPage): void {
    if (this.#stage === 'head') {
      this.#onHeadPage(page);
      return;
    }
    const { lacing, body, flags, index } = page;
    if (lacing.length > 0) this.#checkContinuity(page);
    let offset = 0;
    let completed = 0;
    let samples = 0;
    for (let k = 0; k < lacing.length; k++) {
      const segment = body.subarray(offset, offset + lacing[k]!);
      offset += lacing[k]!;
      const ends = lacing[k]! < 255;
      if (this.#stage === 'tags') {
        if (completed > 0) audioFail('tags_not_alone', `the OpusTags packet does not end its Ogg page (page ${index})`);
        this.#tags.feed(segment);
        if (ends) this.#tags.end();
      } else {
        this.#packetBytes(segment, index);
        if (ends) samples += this.#endPacket(index);
      }
      if (ends) completed++;
    }
    if (lacing.length > 0) this.#open = lacing[lacing.length - 1] === 255;
    if (this.#stage === 'tags') {
      if (completed > 0) {
        if (page.granule !== 0) audioFail('granule_invalid', `the page where OpusTags ends must have granule position 0 (page ${index})`);
        this.#stage = 'audio';
        this.#format = Object.freeze({ codec: 'opus', container: 'ogg', sampleRate: OPUS_RATE, channels: this.#head!.channels });
      }
    } else {
      if (lacing.length > 0) this.#audioPages++;
      this.#onGranule(page, completed, samples);
    }
    if (flags & FLAG_EOS) {
      if (this.#open) audioFail('eos_packet_incomplete', `the end-of-stream page (page ${index}) leaves its last packet unfinished`);
      this.#eos = true;
    }
  }

  #onHeadPage(page: OggPage): void {
    const { lacing, body, flags } = page;
    if (flags & FLAG_CONTINUED) audioFail('continuation_mismatch', 'the first Ogg page claims to continue a packet');
    let k = 0;
    let length = 0;
    while (k < lacing.length && lacing[k] === 255) length += lacing[k++]!;
    const complete = k < lacing.length;
    if (complete) length += lacing[k]!;
    const first = body.subarray(0, length);
    if (!complete) {
      if (isOpusHeadStart(first)) audioFail('head_not_alone', 'the OpusHead packet does not end on the first Ogg page');
      refuseFirstPacket(first);
    }
    this.#head = Object.freeze(parseOpusHead(first));
    if (k !== lacing.length - 1) audioFail('head_not_alone', 'the first Ogg page must hold the OpusHead packet alone');
    if (page.granule !== 0) audioFail('granule_invalid', 'the OpusHead page must have granule position 0');
    if (flags & FLAG_EOS) audioFail('tags_missing', 'the stream ends after its OpusHead page, without an OpusTags header');
    this.#stage = 'tags';
  }

  /** RFC 7845 section 3: the 'continued' flag must match the page before (gaps are caught by sequence). */
  #checkContinuity(page: OggPage): void {
    const continued = (page.flags & FLAG_CONTINUED) !== 0;
    if (continued && !this.#open) {
      // A live stream joined mid-packet, headers pasted on the front: the partial first packet is skipped.
      if (this.#stage === 'audio' && this.#audioPages === 0) {
        this.#orphan = true;
        return;
      }
      audioFail('continuation_mismatch', `Ogg page ${page.index} continues a packet, but the page before ended its packets`);
    }
    if (!continued && this.#open) {
      audioFail('continuation_mismatch', `Ogg page ${page.index} does not continue the packet left open by the page before`);
    }
  }

  #packetBytes(segment: Uint8Array, page: number): void {
    if (this.#orphan) return;
    const room = PACKET_PREFIX - this.#packetHave;
    if (room > 0) {
      const part = segment.subarray(0, room);
      this.#packet.set(part, this.#packetHave);
      this.#packetHave += part.length;
    }
    this.#packetLength += segment.length;
    if (this.#packetLength > MAX_AUDIO_PACKET) {
      audioFail('packet_too_large', `audio packet ${this.#packets + 1} (page ${page}) exceeds ${MAX_AUDIO_PACKET} bytes`);
    }
  }

  /** Ends the packet in progress; returns its duration in samples (0 for a skipped partial packet). */
  #endPacket(page: number): number {
    const orphan = this.#orphan;
    const packetNo = this.#packets + 1;
    const samples = orphan ? 0 : opusPacketSamples(this.#packet.subarray(0, this.#packetHave), this.#packetLength,
      () => `audio packet ${packetNo} (page ${page})`);
    if (!orphan) this.#packets++;
    this.#orphan = false;
    this.#packetHave = 0;
    this.#packetLength = 0;
    return samples;
  }

  #onGranule(page: OggPage, completed: number, samples: number): void {
    if (completed === 0) return;
    const { granule, index } = page;
    if (granule === null) audioFail('granule_missing', `Ogg page ${index} completes packets but has no granule position`);
    if (this.#lastGranule === null) {
      // RFC 7845 section 4.5: the first granule may be larger (a cropped or joined stream), not smaller.
      if (granule < samples && !(page.flags & FLAG_EOS)) {
        audioFail('granule_invalid', `the first audio page (page ${index}) has granule position ${granule}, ` +
          `less than the ${samples} samples that complete on it`);
      }
      this.#start = Math.max(0, granule - samples);
    } else if (granule < this.#lastGranule) {
      audioFail('granule_backwards', `granule position goes backwards on Ogg page ${index}: ${granule} after ${this.#lastGranule}`);
    }
    this.#lastGranule = granule;
  }
}
