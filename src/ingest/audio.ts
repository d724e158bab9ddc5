/**
 * Streaming validation of uploaded call audio, whatever its declared codec: WAV (see wav.ts),
 * raw G.711 (here) or Ogg/Opus (see ogg-opus.ts). An inspector sees the plaintext bytes of an
 * upload as they arrive, keeps at most a header or one Ogg page of them, and either rejects the
 * stream as soon as its bytes prove it invalid or describes it at the end.
 *
 * Invariants (all inspectors):
 * - Split-invariant: feeding the same bytes in any pieces gives the same outcome.
 * - Only AudioError (WavError is one) escapes feed/finish/finishTruncated for bad input, with a
 *   message that never contains stream bytes or metadata values. A feed() failure is sticky;
 *   a finish() failure is not: finishTruncated() may still describe the well-formed prefix.
 * - After finish() or finishTruncated(), feed() is a programming error (plain Error).
 */
import { AudioError, audioFail } from './audio-error.ts';
import { OggOpusInspector } from './ogg-opus.ts';
import { WavInspector, type WavInfo } from './wav.ts';

export { AudioError } from './audio-error.ts';
export type { AudioErrorReason } from './audio-error.ts';

export type DeclaredCodec = 'wav' | 'pcmu' | 'pcma' | 'ogg-opus';

/** sampleRate and channels are required for raw G.711 (pcmu, pcma) and forbidden otherwise. */
export interface AudioDeclaration {
  codec: DeclaredCodec;
  sampleRate?: number;
  channels?: number;
}

export interface AudioInfo {
  codec: 'pcm_s16le' | 'pcmu' | 'pcma' | 'opus';
  container: 'wav' | 'raw' | 'ogg';
  sampleRate: number;
  channels: 1 | 2;
  durationMs: number;
}

export type AudioFormat = Omit<AudioInfo, 'durationMs'>;

export interface AudioInspector {
  /** Throws AudioError as soon as the bytes prove the stream invalid. */
  feed(piece: Uint8Array): void;
  readonly bytesSeen: number;
  /** Once known (header complete), the stream's format; null before. */
  readonly format: AudioFormat | null;
  /** Bytes of the stream held in memory right now (a header, or at most one Ogg page). */
  readonly bufferedBytes: number;
  /** End of a complete stream: validates the end and returns the info, or throws AudioError. */
  finish(): AudioInfo;
  /**
   * End of a stream cut short (crash, vanished client, idle expiry): never throws for a cut in
   * the middle of a sample, chunk or Ogg page; describes the well-formed prefix (complete
   * samples, or the last complete Ogg page's granule). Throws AudioError only if the header was
   * never complete (no playable audio), or if feed() had already proven the stream invalid.
   */
  finishTruncated(): AudioInfo;
}

export const MIN_RAW_SAMPLE_RATE = 8000;
export const MAX_RAW_SAMPLE_RATE = 48000;
const CODECS: readonly DeclaredCodec[] = ['wav', 'pcmu', 'pcma', 'ogg-opus'];

function isRaw(codec: DeclaredCodec): codec is 'pcmu' | 'pcma' {
  return codec === 'pcmu' || codec === 'pcma';
}

function refuseHeaderFields(codec: DeclaredCodec, fields: { sampleRate?: unknown; channels?: unknown }): void {
  for (const name of ['sampleRate', 'channels'] as const) {
    if (fields[name] !== undefined) audioFail('field_not_allowed', `${name} must not be given for codec ${codec}: its header carries it`);
  }
}

function refuseUnknownCodec(codec: string): asserts codec is DeclaredCodec {
  if (!(CODECS as readonly string[]).includes(codec)) audioFail('codec_unknown', `codec must be one of ${CODECS.join(', ')}`);
}

/** Checks a declaration built in code; validateDeclaration() is the way in from Upload-Metadata. */
function checkDeclaration(decl: AudioDeclaration): AudioDeclaration {
  const { codec, sampleRate, channels } = decl;
  refuseUnknownCodec(codec);
  if (!isRaw(codec)) {
    refuseHeaderFields(codec, decl);
    return Object.freeze({ codec });
  }
  if (sampleRate === undefined) audioFail('field_required', `sampleRate is required for codec ${codec} (raw G.711 has no header)`);
  if (channels === undefined) audioFail('field_required', `channels is required for codec ${codec} (raw G.711 has no header)`);
  if (!Number.isInteger(sampleRate) || sampleRate < MIN_RAW_SAMPLE_RATE || sampleRate > MAX_RAW_SAMPLE_RATE) {
    audioFail('sample_rate_invalid', `sampleRate must be an integer from ${MIN_RAW_SAMPLE_RATE} to ${MAX_RAW_SAMPLE_RATE}`);
  }
  if (channels !== 1 && channels !== 2) audioFail('channels_invalid', 'channels must be 1 or 2');
  return Object.freeze({ codec, sampleRate, channels });
}

/**
 * Parses the audio fields of tus Upload-Metadata (strings). codec defaults to 'wav' when
 * absent. Throws AudioError(400) naming the field, never quoting its value.
 */
export function validateDeclaration(fields: { codec?: string; sampleRate?: string; channels?: string }): AudioDeclaration {
  // Plain decimal digits only (no sign, space, exponent or leading zero); anything else becomes
  // NaN, which checkDeclaration refuses with the field's own message.
  const decimal = (value: string | undefined) => (value === undefined ? undefined : /^[1-9][0-9]{0,5}$/.test(value) ? Number(value) : NaN);
  return checkDeclaration({ codec: (fields.codec ?? 'wav') as DeclaredCodec, sampleRate: decimal(fields.sampleRate), channels: decimal(fields.channels) });
}

/** What a stream cut short holds (finishTruncated), or null when its header never completed or its bytes already proved it invalid. */
export function truncatedInfo(inspector: AudioInspector): AudioInfo | null {
  try {
    return inspector.finishTruncated();
  } catch (err) {
    if (err instanceof AudioError) return null;
    throw err;
  }
}

export function createAudioInspector(decl: AudioDeclaration): AudioInspector {
  const checked = checkDeclaration(decl);
  if (checked.codec === 'wav') return new WavAudioInspector();
  if (checked.codec === 'ogg-opus') return new OggOpusInspector();
  return new RawG711Inspector(checked.codec as 'pcmu' | 'pcma', checked.sampleRate!, checked.channels as 1 | 2);
}

// ---------------------------------------------------------------------------------------------

/** WAV as AudioInspector: streamed sizes allowed (see wav.ts), info mapped to AudioInfo. */
class WavAudioInspector implements AudioInspector {
  readonly #wav = new WavInspector({ allowUnknownSizes: true });
  #format: AudioFormat | null = null;

  get bytesSeen(): number {
    return this.#wav.bytesSeen;
  }

  get bufferedBytes(): number {
    return this.#wav.bufferedBytes;
  }

  get format(): AudioFormat | null {
    const f = this.#wav.format;
    if (f && !this.#format) this.#format = Object.freeze({ codec: f.codec, container: 'wav', sampleRate: f.sampleRate, channels: f.channels });
    return this.#format;
  }

  feed(piece: Uint8Array): void {
    this.#wav.feed(piece);
  }

  finish(): AudioInfo {
    return this.#map(this.#wav.finish());
  }

  finishTruncated(): AudioInfo {
    return this.#map(this.#wav.finishTruncated());
  }

  #map(info: WavInfo): AudioInfo {
    return Object.freeze({ ...this.format!, durationMs: info.durationMs });
  }
}

// ---------------------------------------------------------------------------------------------

const SNIFF = 12;

/**
 * Raw interleaved G.711: every byte is a valid sample, so there is nothing to reject but a
 * stream that is plainly a container declared as raw (a RIFF/WAVE or Ogg header in its first
 * bytes: 2^-48 or less for real G.711), an empty stream, or a partial frame at the end.
 */
class RawG711Inspector implements AudioInspector {
  readonly format: AudioFormat;
  readonly #head = new Uint8Array(SNIFF);
  #fed = 0;
  #error: AudioError | null = null;
  #closed = false;

  constructor(codec: 'pcmu' | 'pcma', sampleRate: number, channels: 1 | 2) {
    this.format = Object.freeze({ codec, container: 'raw', sampleRate, channels });
  }

  get bytesSeen(): number {
    return this.#fed;
  }

  get bufferedBytes(): number {
    return this.#fed < SNIFF ? this.#fed : 0; // the first bytes, kept until the container check
  }

  feed(piece: Uint8Array): void {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new Error('AudioInspector.feed() called after finish()');
    const before = this.#fed;
    this.#fed += piece.length;
    if (before >= SNIFF) return;
    this.#head.set(piece.subarray(0, SNIFF - before), before);
    try {
      this.#sniff(Math.min(this.#fed, SNIFF));
    } catch (err) {
      if (err instanceof AudioError) this.#error = err;
      throw err;
    }
  }

  #sniff(have: number): void {
    const h = this.#head;
    const is = (at: number, text: string) => [...text].every((c, k) => h[at + k] === c.charCodeAt(0));
    const hint = 'declare its codec instead of raw G.711';
    if (have >= 6 && is(0, 'OggS') && h[4] === 0 && (h[5]! & 0x02) !== 0) {
      audioFail('raw_is_container', `the stream is an Ogg file, not raw G.711: ${hint}`);
    }
    if (have >= 12 && is(0, 'RIFF') && is(8, 'WAVE')) {
      audioFail('raw_is_container', `the stream is a WAV file, not raw G.711: ${hint}`);
    }
  }

  finish(): AudioInfo {
    if (this.#error) throw this.#error;
    this.#closed = true;
    const { channels } = this.format;
    if (this.#fed === 0) audioFail('raw_empty', 'the stream is empty: the recording has no samples');
    if (this.#fed % channels !== 0) {
      audioFail('raw_misaligned', `length ${this.#fed} is not a multiple of the ${channels} bytes of a stereo frame`);
    }
    return this.#info(this.#fed / channels);
  }

  finishTruncated(): AudioInfo {
    if (this.#error) throw this.#error;
    this.#closed = true;
    return this.#info(Math.floor(this.#fed / this.format.channels));
  }

  #info(frames: number): AudioInfo {
    return Object.freeze({ ...this.format, durationMs: Math.round((frames * 1000) / this.format.sampleRate) });
  }
}
