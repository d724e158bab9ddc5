/**
 * ITU-T G.711 encoders (A-law, u-law), a PCM tone source, and a raw G.711 stream builder for
 * tests and the demo load generator. Split out of wav.ts, which re-exports the encoders.
 */

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

/**
 * Raw (headerless) interleaved G.711 of a tone: `hz` (default 440) on the first channel and
 * 1.5 x hz on the second, as produced by sineWaveS16 and encodeG711.
 */
export function makeRawG711(opts: {
  codec: 'pcmu' | 'pcma';
  sampleRate: number;
  channels: 1 | 2;
  seconds: number;
  hz?: number;
}): Buffer {
  if (!Number.isFinite(opts.seconds) || opts.seconds < 0) throw new RangeError('seconds must be a non-negative number');
  if (!Number.isInteger(opts.sampleRate) || opts.sampleRate <= 0) throw new RangeError('sampleRate must be a positive integer');
  if (opts.channels !== 1 && opts.channels !== 2) throw new RangeError('channels must be 1 or 2');
  const pcm = sineWaveS16({ sampleRate: opts.sampleRate, seconds: opts.seconds, hz: opts.hz ?? 440, channels: opts.channels });
  const g711 = encodeG711(pcm, opts.codec);
  return Buffer.from(g711.buffer, g711.byteOffset, g711.byteLength);
}
