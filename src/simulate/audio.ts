// The audio of simulated calls: G.711 at 8 kHz, from one precomputed loop shared by every call.
//
// The loop is synthesized once (a few hundred kilobytes), so 10,000 calls cost no more CPU than
// one: each call starts at its own place in the loop and reads on from there, and a chunk is a
// view of the loop unless it wraps around its end. Content: when `espeak-ng` is on the PATH, a
// few spoken prompts (espeak writes 22,050 Hz 16-bit WAV; they are resampled here); otherwise,
// or when that fails, voice-like tones and comfort noise. Stereo puts the two call legs on the
// two channels, the second leg half a loop behind the first.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { linearToAlaw, linearToMulaw } from '../ingest/g711.ts';
import type { G711Codec } from './metadata.ts';
import { xorshift32 } from '../lib/xorshift.ts';

export const SAMPLE_RATE = 8000;

export interface AudioSource {
  readonly codec: G711Codec;
  readonly channels: 1 | 2;
  /** 'speech' when the loop holds espeak-ng prompts, 'tones' otherwise. */
  readonly content: 'speech' | 'tones';
  readonly bytesPerSecond: number;
  readonly frameBytes: number;
  /** Length of the loop in bytes (whole frames). */
  readonly loopBytes: number;
  /** Bytes [position, position + length) of the endless loop. Do not modify the result. */
  read(position: number, length: number): Buffer;
}

/** Noise in [-0.5, 0.5): the same loop in every process. */
function noise(seed: number): () => number {
  const next = xorshift32(seed || 1);
  return () => next() / 0x100000000 - 0.5;
}

/** Voice-like buzz: harmonics of a gliding pitch under a syllable-rate envelope, with pauses of comfort noise. */
export function synthesizeTones(seconds = 20): Int16Array {
  const n = Math.round(seconds * SAMPLE_RATE);
  const out = new Int16Array(n);
  const rnd = noise(0x5eed);
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / SAMPLE_RATE;
    const inPhrase = t % 3.2 < 2.4; // 2.4 s of "speech", 0.8 s of pause
    let v = 60 * rnd(); // comfort noise, about -55 dBFS
    if (inPhrase) {
      const f0 = 140 + 40 * Math.sin(2 * Math.PI * 0.3 * t) + 15 * Math.sin(2 * Math.PI * 2.1 * t);
      phase += (2 * Math.PI * f0) / SAMPLE_RATE;
      const env = Math.abs(Math.sin(Math.PI * 4 * t)) ** 0.6; // about eight syllables a second
      v += env * (4000 * Math.sin(phase) + 2200 * Math.sin(2 * phase + 0.4) + 1200 * Math.sin(3 * phase + 1.1));
    }
    if (t % 10 < 0.15) v += 3000 * Math.sin(2 * Math.PI * 425 * t); // a short 425 Hz beep every 10 s
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return out;
}

/** Channel 0 of a 16-bit PCM WAV file, with its sample rate. Throws on anything else. */
export function parsePcmWav(file: Uint8Array): { rate: number; samples: Int16Array } {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  let pos = 12;
  let fmt: { tag: number; channels: number; rate: number; bits: number } | null = null;
  while (pos + 8 <= b.length) {
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ' && size >= 16) {
      fmt = { tag: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt || fmt.tag !== 1 || fmt.bits !== 16 || fmt.channels < 1) throw new Error('WAV is not 16-bit PCM');
      // espeak-ng leaves the sizes unset when it cannot seek: take what is there.
      const end = Math.min(b.length, body + size);
      const frames = Math.floor((end - body) / (2 * fmt.channels));
      const samples = new Int16Array(frames);
      for (let f = 0; f < frames; f++) samples[f] = b.readInt16LE(body + f * 2 * fmt.channels);
      return { rate: fmt.rate, samples };
    }
    pos = body + size + (size & 1);
  }
  throw new Error('WAV has no data chunk');
}

/**
 * Resamples to `to` Hz: each output sample is the mean of the input over its own period (a box
 * filter, a crude but sufficient low-pass before decimation), read off prefix sums at
 * fractional positions.
 */
export function resample(input: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return input.slice();
  const n = Math.floor((input.length * to) / from);
  const prefix = new Float64Array(input.length + 1);
  for (let i = 0; i < input.length; i++) prefix[i + 1] = prefix[i]! + input[i]!;
  const at = (x: number) => {
    // Integral of the piecewise-constant input from 0 to x.
    const k = Math.min(input.length, Math.max(0, Math.floor(x)));
    return prefix[k]! + (k < input.length ? (x - k) * input[k]! : 0);
  };
  const ratio = from / to;
  const width = Math.max(1, ratio);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const centre = (i + 0.5) * ratio;
    const lo = Math.max(0, centre - width / 2);
    const hi = Math.min(input.length, centre + width / 2);
    const v = hi > lo ? (at(hi) - at(lo)) / (hi - lo) : 0;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return out;
}

/** True if `name` is an executable file in a directory of PATH. */
export function onPath(name: string, path = process.env.PATH ?? ''): boolean {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

const PROMPTS: Array<[voice: string, text: string]> = [
  ['sv', 'Välkommen till sjukvårdsrådgivningen. Alla våra sjuksköterskor är upptagna, vänligen vänta.'],
  ['en', 'Hello, this is the advice line. How can I help you today?'],
  ['sv', 'Jag har haft feber sedan i går och ont i halsen.'],
  ['en', 'Do you have any trouble breathing, or pain in your chest?'],
  ['sv', 'Nej, men jag känner mig väldigt trött.'],
  ['en', 'Drink plenty of water and rest. Call again if it gets worse.'],
];

function espeak(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('espeak-ng', args, { timeout: 15_000, windowsHide: true }, (e) => (e ? reject(e) : resolve()));
  });
}

/** The prompts spoken by espeak-ng at 8 kHz with 0.6 s of comfort noise after each; null if that fails. */
export async function synthesizeSpeech(): Promise<Int16Array | null> {
  if (!onPath('espeak-ng')) return null;
  const dir = await mkdtemp(join(tmpdir(), 'callvault-sim-'));
  try {
    let files: string[];
    try {
      files = await Promise.all(PROMPTS.map(async ([voice, text], i) => {
        const file = join(dir, `p${i}.wav`);
        await espeak(['-v', voice, '-s', '150', '-w', file, text]);
        return file;
      }));
    } catch {
      return null; // espeak-ng could not speak (missing voice, timeout): tones instead
    }
    // Past this point a failure is a bug in the parsing or resampling, and is not hidden.
    const parts = await Promise.all(files.map(async (file) => {
      const wav = parsePcmWav(await readFile(file));
      return resample(wav.samples, wav.rate, SAMPLE_RATE);
    }));
    const gap = Math.round(0.6 * SAMPLE_RATE);
    const total = parts.reduce((s, p) => s + p.length + gap, 0);
    if (total < SAMPLE_RATE) return null;
    const out = new Int16Array(total);
    const rnd = noise(0xca11);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
      for (let k = 0; k < gap; k++) out[at++] = Math.round(60 * rnd());
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Encodes a loop of linear samples; stereo puts the same loop half a loop later on channel 1. */
export function encodeLoop(pcm: Int16Array, codec: G711Codec, channels: 1 | 2): Buffer {
  const encode = codec === 'pcma' ? linearToAlaw : linearToMulaw;
  const n = pcm.length;
  const out = Buffer.allocUnsafe(n * channels);
  const half = n >> 1;
  for (let i = 0; i < n; i++) {
    if (channels === 1) out[i] = encode(pcm[i]!);
    else {
      out[2 * i] = encode(pcm[i]!);
      out[2 * i + 1] = encode(pcm[(i + half) % n]!);
    }
  }
  return out;
}

export function loopSource(loop: Buffer, codec: G711Codec, channels: 1 | 2, content: 'speech' | 'tones'): AudioSource {
  if (loop.length === 0 || loop.length % channels !== 0) throw new RangeError('the loop must hold whole frames');
  const size = loop.length;
  return {
    codec, channels, content,
    bytesPerSecond: SAMPLE_RATE * channels,
    frameBytes: channels,
    loopBytes: size,
    read(position, length) {
      const start = ((position % size) + size) % size;
      if (start + length <= size) return loop.subarray(start, start + length);
      const out = Buffer.allocUnsafe(length);
      let done = 0;
      let at = start;
      while (done < length) {
        const take = Math.min(size - at, length - done);
        loop.copy(out, done, at, at + take);
        done += take;
        at = 0;
      }
      return out;
    },
  };
}

export async function createAudioSource(opts: { codec: G711Codec; channels: 1 | 2; speech?: 'auto' | 'off' }): Promise<AudioSource> {
  const speech = opts.speech === 'off' ? null : await synthesizeSpeech();
  const pcm = speech ?? synthesizeTones();
  return loopSource(encodeLoop(pcm, opts.codec, opts.channels), opts.codec, opts.channels, speech ? 'speech' : 'tones');
}
