/**
 * The one error type of audio validation (WAV, raw G.711, Ogg/Opus, upload declarations).
 *
 * Invariant: a message is built only from fixed text and numbers (sizes, offsets, counts, codes
 * read as numbers), never from bytes of the stream or from a metadata value, so it can be
 * returned in an HTTP 400/415 body and written to logs.
 */
import type { WavErrorReason } from './wav.ts';

export type OggErrorReason =
  | 'not_ogg' | 'ogg_version_unsupported' | 'page_flags_invalid' | 'crc_mismatch' | 'bos_missing'
  | 'multiple_streams' | 'sequence_gap' | 'granule_invalid' | 'granule_missing' | 'granule_backwards'
  | 'continuation_mismatch' | 'data_after_eos' | 'eos_missing' | 'eos_packet_incomplete' | 'truncated'
  | 'unsupported_codec' | 'not_opus' | 'opus_head_invalid' | 'opus_version_unsupported'
  | 'unsupported_channel_mapping' | 'head_not_alone' | 'tags_missing' | 'tags_invalid' | 'tags_too_large'
  | 'tags_not_alone' | 'opus_packet_invalid' | 'packet_too_large' | 'no_audio';

export type RawErrorReason = 'raw_empty' | 'raw_misaligned' | 'raw_is_container';

export type DeclarationErrorReason =
  | 'codec_unknown' | 'field_required' | 'field_not_allowed' | 'sample_rate_invalid' | 'channels_invalid';

export type AudioErrorReason = WavErrorReason | OggErrorReason | RawErrorReason | DeclarationErrorReason;

/** Reasons meaning "well-formed, but an encoding or layout we refuse": HTTP 415. All others: 400. */
const UNSUPPORTED: ReadonlySet<AudioErrorReason> = new Set<AudioErrorReason>([
  // WAV
  'rf64_unsupported', 'rifx_unsupported', 'unsupported_format', 'unsupported_bits',
  'unsupported_channels', 'unsupported_sample_rate',
  // Ogg/Opus
  'ogg_version_unsupported', 'multiple_streams', 'unsupported_codec', 'opus_version_unsupported',
  'unsupported_channel_mapping',
]);

export class AudioError<R extends AudioErrorReason = AudioErrorReason> extends Error {
  /** Machine-readable cause, stable across releases. */
  readonly reason: R;
  /** Suggested HTTP status: 415 for a well-formed stream in an encoding we refuse, else 400. */
  readonly status: 400 | 415;
  constructor(reason: R, message: string) {
    super(message);
    this.name = 'AudioError';
    this.reason = reason;
    this.status = UNSUPPORTED.has(reason) ? 415 : 400;
  }
}

export function audioFail(reason: AudioErrorReason, message: string): never {
  throw new AudioError(reason, message);
}
