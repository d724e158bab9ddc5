// A recording's waveform as peaks: per channel, the loudest sample in each of `points` equal
// slices of the call, from 0 to 1. Computed from the decrypted audio as it streams (one pass,
// nothing kept but the peaks), for PCM 16-bit and G.711; Opus would need a decoder and has none.

/** ITU-T G.711 u-law to linear (16-bit range). */
function mulawToLinear(u: number): number {
  const x = ~u & 0xff;
  const t = (((x & 0x0f) << 3) + 0x84) << ((x & 0x70) >> 4);
  return x & 0x80 ? 0x84 - t : t - 0x84;
}

/** ITU-T G.711 A-law to linear (16-bit range). */
function alawToLinear(a: number): number {
  const x = a ^ 0x55;
  const seg = (x & 0x70) >> 4;
  let t = (x & 0x0f) << 4;
  t = seg === 0 ? t + 8 : seg === 1 ? t + 0x108 : (t + 0x108) << (seg - 1);
  return x & 0x80 ? t : -t;
}

const MULAW = Int16Array.from({ length: 256 }, (_, i) => mulawToLinear(i));
const ALAW = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));

export type PeakCodec = 'pcm_s16le' | 'pcmu' | 'pcma';

export function isPeakCodec(codec: string): codec is PeakCodec {
  return codec === 'pcm_s16le' || codec === 'pcmu' || codec === 'pcma';
}

/** Where the samples start in a WAV file: the offset of the `data` chunk's payload, or null. */
export function wavDataOffset(head: Uint8Array): number | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') return null;
  let at = 12;
  while (at + 8 <= b.length) {
    const size = b.readUInt32LE(at + 4);
    if (b.toString('latin1', at, at + 4) === 'data') return at + 8;
    at += 8 + size + (size & 1);
  }
  return null;
}

/**
 * Peaks of interleaved samples read from `audio` (which starts at the first sample). `frames` is
 * the number of sample frames in the call, so the slices are known before the first byte.
 */
export async function computePeaks(audio: AsyncIterable<Uint8Array>, o: { codec: PeakCodec; channels: number; frames: number; points: number }): Promise<number[][]> {
  const table = o.codec === 'pcmu' ? MULAW : o.codec === 'pcma' ? ALAW : null;
  const peaks = Array.from({ length: o.channels }, () => new Array<number>(o.points).fill(0));
  const framesPerPoint = Math.max(1, o.frames / o.points);
  let sampleIndex = 0;
  let carry: number | null = null; // a 16-bit sample split across two pieces
  for await (const piece of audio) {
    for (let i = 0; i < piece.length; i++) {
      let v: number;
      if (table) v = table[piece[i]!]!;
      else if (carry === null) { carry = piece[i]!; continue; }
      else { v = ((piece[i]! << 8) | carry) << 16 >> 16; carry = null; }
      const frame = Math.floor(sampleIndex / o.channels);
      const point = Math.min(o.points - 1, Math.floor(frame / framesPerPoint));
      const ch = sampleIndex % o.channels;
      const a = Math.abs(v) / 32768;
      if (a > peaks[ch]![point]!) peaks[ch]![point] = a;
      sampleIndex++;
    }
  }
  return peaks.map((c) => c.map((x) => Math.round(Math.min(1, x) * 1000) / 1000));
}
