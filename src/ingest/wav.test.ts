import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import {
  WavError, WavInspector, encodeG711, inspectWav, linearToAlaw, linearToMulaw, makeWav, sineWaveS16,
} from './wav.ts';
import type { WavCodec, WavErrorReason, WavExtraChunk, WavInfo, WavInspectorOptions } from './wav.ts';
import { AudioError } from './audio-error.ts';
import { errorOf, failsAtByte } from './test-audio.ts';

// ---------------------------------------------------------------------------------------------
// Fixtures, all generated here. Hand-built files use their own chunk encoder, independent of makeWav.

const BITS: Record<WavCodec, 8 | 16> = { pcm_s16le: 16, pcma: 8, pcmu: 8 };
const SECRET = 'PNR 19121212-1212 caller +46701234567';

function rawChunk(id: string, data: Uint8Array, size = data.length): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'latin1');
  head.writeUInt32LE(size, 4);
  return Buffer.concat([head, data, Buffer.alloc(data.length % 2)]);
}

/** RIFF/WAVE around the given chunks; riffSize defaults to the true size. */
function riff(chunks: Buffer[], riffSize?: number): Buffer {
  const body = Buffer.concat([Buffer.from('WAVE'), ...chunks]);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(riffSize ?? body.length, 4);
  return Buffer.concat([head, body]);
}

function fmtBody(f: { tag: number; channels: number; rate: number; bits: number; blockAlign?: number; byteRate?: number }): Buffer {
  const b = Buffer.alloc(16);
  const align = f.blockAlign ?? (f.channels * f.bits) / 8;
  b.writeUInt16LE(f.tag, 0);
  b.writeUInt16LE(f.channels, 2);
  b.writeUInt32LE(f.rate, 4);
  b.writeUInt32LE(f.byteRate ?? f.rate * align, 8);
  b.writeUInt16LE(align, 12);
  b.writeUInt16LE(f.bits, 14);
  return b;
}

const pcmFmt = () => rawChunk('fmt ', fmtBody({ tag: 1, channels: 1, rate: 8000, bits: 16 }));
const pcmData = (bytes = 1600) => rawChunk('data', new Uint8Array(bytes).fill(7));

function samplesFor(codec: WavCodec, channels: 1 | 2, sampleRate: number, seconds: number): Uint8Array {
  const pcm = sineWaveS16({ sampleRate, seconds, hz: 440, channels });
  return codec === 'pcm_s16le' ? pcm : encodeG711(pcm, codec);
}

/** 100 ms of 8 kHz mono in the given codec; offsets: fmt chunk at 12, fmt body at 20. */
function base(codec: WavCodec = 'pcm_s16le', extensible = false, channels: 1 | 2 = 1): Buffer {
  return makeWav({ codec, sampleRate: 8000, channels, samples: samplesFor(codec, channels, 8000, 0.1), extensible });
}

function patched(buf: Buffer, edit: (b: Buffer) => void): Buffer {
  const copy = Buffer.from(buf);
  edit(copy);
  return copy;
}

const wavErrorOf = (fn: () => unknown): WavError => errorOf(fn, WavError);

function rejects(bytes: Uint8Array, reason: WavErrorReason, message: RegExp, opts?: WavInspectorOptions): WavError {
  const err = wavErrorOf(() => inspectWav(bytes, opts));
  assert.equal(err.reason, reason, err.message);
  assert.match(err.message, message);
  assert.ok(!err.message.includes('19121212') && !err.message.includes('PNR'));
  return err;
}

const wavFailsAtByte = (bytes: Uint8Array, opts?: { maxHeaderBytes?: number }): number => failsAtByte(new WavInspector(opts), bytes, WavError);

function feedSplit(bytes: Uint8Array, cuts: number[], opts?: WavInspectorOptions): WavInfo {
  const insp = new WavInspector(opts);
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    insp.feed(bytes.subarray(prev, cut));
    prev = cut;
  }
  assert.equal(insp.bytesSeen, bytes.length);
  return insp.finish();
}

type Outcome = { ok: WavInfo } | { reason: string; message: string };
function outcome(fn: () => WavInfo): Outcome {
  try {
    return { ok: fn() };
  } catch (err) {
    if (!(err instanceof WavError)) throw err;
    return { reason: err.reason, message: err.message };
  }
}

// ---------------------------------------------------------------------------------------------
// G.711 decoders (reconstruction values of ITU-T G.711 tables 1a/2a on the 16-bit scale),
// used only to check the encoders.

function mulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

function alawToLinear(code: number): number {
  const a = code ^ 0x55;
  const seg = (a >> 4) & 7;
  const t = seg === 0 ? ((a & 0x0f) << 4) + 8 : (((a & 0x0f) << 4) + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

describe('G.711 encoders', () => {
  it('map the anchor values of the standard', () => {
    assert.deepEqual([0, 32767, -32768, -1, 4, -5].map(linearToMulaw), [0xff, 0x80, 0x00, 0x7e, 0xfe, 0x7e]);
    assert.deepEqual([0, 32767, -32768, -1, 8, -9].map(linearToAlaw), [0xd5, 0xaa, 0x2a, 0x55, 0xd5, 0x55]);
  });

  it('encode every reconstruction value back to its own code', () => {
    for (let code = 0; code < 256; code++) {
      assert.equal(linearToAlaw(alawToLinear(code)), code, `A-law ${code}`);
      // u-law has two zeros: negative zero (0x7F) comes back as positive zero (0xFF)
      assert.equal(linearToMulaw(mulawToLinear(code)), code === 0x7f ? 0xff : code, `u-law ${code}`);
    }
  });

  it('are monotonic and within half a quantization step over all 16-bit inputs', () => {
    const laws = [
      { enc: linearToMulaw, dec: mulawToLinear, clip: 32124, step: (c: number) => 8 << ((~c >> 4) & 7) },
      { enc: linearToAlaw, dec: alawToLinear, clip: 32256, step: (c: number) => 16 << Math.max(0, (((c ^ 0x55) >> 4) & 7) - 1) },
    ];
    for (const { enc, dec, clip, step } of laws) {
      let prev = -Infinity;
      for (let x = -32768; x <= 32767; x++) {
        const code = enc(x);
        const y = dec(code);
        assert.ok(y >= prev, `not monotonic at ${x}`);
        prev = y;
        if (Math.abs(x) <= clip) assert.ok(Math.abs(y - x) <= step(code) / 2 + 8, `error too large at ${x}`);
      }
    }
  });

  it('round and clamp out-of-range or non-integer input', () => {
    assert.equal(linearToMulaw(1e9), linearToMulaw(32767));
    assert.equal(linearToAlaw(-1e9), linearToAlaw(-32768));
    assert.equal(linearToMulaw(Number.NaN), 0xff);
    assert.equal(linearToAlaw(1000.4), linearToAlaw(1000));
  });
});

describe('builders', () => {
  it('sineWaveS16 makes interleaved frames at half scale with distinct legs', () => {
    const s = sineWaveS16({ sampleRate: 8000, seconds: 0.5, hz: 400, channels: 2 });
    assert.equal(s.length, 4000 * 2 * 2);
    const v = new DataView(s.buffer);
    let peak = 0;
    let differ = 0;
    for (let f = 0; f < 4000; f++) {
      const l = v.getInt16(f * 4, true);
      peak = Math.max(peak, Math.abs(l));
      if (l !== v.getInt16(f * 4 + 2, true)) differ++;
    }
    assert.ok(peak > 16000 && peak <= 16383, `peak ${peak}`);
    assert.ok(differ > 3000);
    assert.equal(sineWaveS16({ sampleRate: 16000, seconds: 1, hz: 1000 }).length, 32000);
  });

  it('makeWav lays out RIFF, fmt, padded chunks and data as the hand-built reference', () => {
    const samples = new Uint8Array([1, 2, 3]);
    const extra: WavExtraChunk[] = [
      { id: 'JUNK', data: new Uint8Array(5), where: 'start' },
      { id: 'LIST', data: Buffer.from(SECRET), where: 'before' },
      { id: 'cue ', data: new Uint8Array(4), where: 'after' },
    ];
    const built = makeWav({ codec: 'pcma', sampleRate: 8000, channels: 1, samples, extraChunks: extra });
    const fmt = Buffer.concat([fmtBody({ tag: 6, channels: 1, rate: 8000, bits: 8 }), Buffer.alloc(2)]);
    const reference = riff([
      rawChunk('JUNK', new Uint8Array(5)), rawChunk('fmt ', fmt), rawChunk('LIST', Buffer.from(SECRET)),
      rawChunk('data', samples), rawChunk('cue ', new Uint8Array(4)),
    ]);
    assert.deepEqual(built, reference);
    assert.throws(() => makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples, extraChunks: [{ id: 'TOOLONG', data: samples, where: 'after' }] }), TypeError);
  });
});

// ---------------------------------------------------------------------------------------------

const CODECS: WavCodec[] = ['pcm_s16le', 'pcma', 'pcmu'];

describe('valid files', () => {
  for (const codec of CODECS) {
    for (const channels of [1, 2] as const) {
      for (const extensible of [false, true]) {
        it(`${codec}, ${channels} ch${extensible ? ', extensible' : ''}, with extra chunks`, () => {
          const sampleRate = channels === 1 ? 8000 : 48000;
          const samples = samplesFor(codec, channels, sampleRate, 0.75);
          const extraChunks: WavExtraChunk[] = [
            { id: 'JUNK', data: new Uint8Array(27), where: 'start' },
            { id: 'fact', data: new Uint8Array(4), where: 'before' },
            { id: 'LIST', data: Buffer.from(SECRET), where: 'before' },
            { id: 'id3 ', data: new Uint8Array(11), where: 'after' },
          ];
          const wav = makeWav({ codec, sampleRate, channels, samples, extraChunks, extensible });
          const fmtLen = extensible ? 40 : codec === 'pcm_s16le' ? 16 : 18;
          const blockAlign = (channels * BITS[codec]) / 8;
          const expected: WavInfo = {
            codec, sampleRate, channels, bitsPerSample: BITS[codec], blockAlign,
            dataOffset: 12 + 36 + 8 + fmtLen + 12 + 8 + (SECRET.length + (SECRET.length % 2)) + 8,
            dataLength: samples.length, durationMs: 750,
          };
          assert.equal(samples.length, sampleRate * 0.75 * blockAlign);
          assert.deepEqual({ ...inspectWav(wav) }, expected);
          assert.deepEqual({ ...feedSplit(wav, [1, 13, 21, 100, 101]) }, expected);
        });
      }
    }
  }

  const specArb = fc.record({
    codec: fc.constantFrom(...CODECS),
    channels: fc.constantFrom(1 as const, 2 as const),
    sampleRate: fc.integer({ min: 8000, max: 48000 }),
    extensible: fc.boolean(),
    frames: fc.integer({ min: 1, max: 300 }),
    extras: fc.array(fc.record({
      id: fc.constantFrom('LIST', 'fact', 'cue ', 'JUNK', 'bext', 'smpl'),
      len: fc.integer({ min: 0, max: 41 }),
      where: fc.constantFrom('start' as const, 'before' as const, 'after' as const),
    }), { maxLength: 4 }),
  });

  type Spec = typeof specArb extends fc.Arbitrary<infer T> ? T : never;
  function build(spec: Spec): { wav: Buffer; expected: WavInfo } {
    const bits = BITS[spec.codec];
    const blockAlign = (spec.channels * bits) / 8;
    const samples = new Uint8Array(spec.frames * blockAlign).map((_, i) => (i * 37) & 0xff);
    const extraChunks = spec.extras.map((e) => ({ id: e.id, data: Buffer.from(SECRET.repeat(3).slice(0, e.len)), where: e.where }));
    const wav = makeWav({ ...spec, samples, extraChunks });
    const fmtLen = spec.extensible ? 40 : spec.codec === 'pcm_s16le' ? 16 : 18;
    const padded = (where: string) => spec.extras.filter((e) => e.where === where).reduce((n, e) => n + 8 + e.len + (e.len % 2), 0);
    const expected: WavInfo = {
      codec: spec.codec, sampleRate: spec.sampleRate, channels: spec.channels, bitsPerSample: bits, blockAlign,
      dataOffset: 12 + padded('start') + 8 + fmtLen + padded('before') + 8,
      dataLength: samples.length, durationMs: Math.round((spec.frames * 1000) / spec.sampleRate),
    };
    return { wav, expected };
  }

  it('any valid file gives the same info whole and in random splits (property)', () => {
    fc.assert(fc.property(specArb, fc.array(fc.nat(), { maxLength: 12 }), (spec, rawCuts) => {
      const { wav, expected } = build(spec);
      const cuts = rawCuts.map((c) => c % (wav.length + 1)).sort((a, b) => a - b);
      assert.deepEqual({ ...inspectWav(wav) }, expected);
      assert.deepEqual({ ...feedSplit(wav, cuts) }, expected);
    }), { numRuns: 300 });
  });

  it('accepts a file fed one byte at a time', () => {
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 2, samples: samplesFor('pcmu', 2, 8000, 0.2), extensible: true, extraChunks: [{ id: 'LIST', data: new Uint8Array(9), where: 'after' }] });
    assert.deepEqual(feedSplit(wav, Array.from({ length: wav.length }, (_, i) => i)), inspectWav(wav));
    assert.equal(inspectWav(wav).durationMs, 200);
  });

  it('reports the format once the data chunk header is in, not before', () => {
    const wav = base('pcma');
    const insp = new WavInspector();
    insp.feed(wav.subarray(0, 43));
    assert.equal(insp.format, null);
    assert.equal(insp.bytesSeen, 43);
    insp.feed(wav.subarray(43, 46));
    assert.deepEqual(insp.format, { codec: 'pcma', sampleRate: 8000, channels: 1, bitsPerSample: 8, blockAlign: 1, dataOffset: 46 });
    insp.feed(wav.subarray(46));
    assert.equal(insp.finish().durationMs, 100);
    assert.equal(insp.finish(), insp.finish());
    assert.throws(() => insp.feed(new Uint8Array(1)), /after finish/);
  });

  it('handles odd-sized data with its pad byte, counted in the RIFF size or not', () => {
    const odd = makeWav({ codec: 'pcma', sampleRate: 8000, channels: 1, samples: new Uint8Array(8001) });
    assert.equal(odd.length % 2, 0);
    assert.equal(inspectWav(odd).dataLength, 8001);
    assert.equal(inspectWav(odd).durationMs, 1000);
    // writer left the pad byte out of the RIFF size: riffSize odd, one pad byte after it is allowed
    const excl = patched(odd, (b) => b.writeUInt32LE(b.length - 9, 4));
    assert.equal(inspectWav(excl).dataLength, 8001);
    assert.equal(inspectWav(excl.subarray(0, excl.length - 1)).dataLength, 8001);
  });

  it('accepts fmt chunks longer than needed, and the limits 8000 and 48000 Hz', () => {
    const longFmt = Buffer.concat([fmtBody({ tag: 7, channels: 2, rate: 48000, bits: 8 }), Buffer.alloc(30, 0xee)]);
    const wav = riff([rawChunk('fmt ', longFmt), rawChunk('data', new Uint8Array(96))]);
    assert.deepEqual({ ...inspectWav(wav) }, { codec: 'pcmu', sampleRate: 48000, channels: 2, bitsPerSample: 8, blockAlign: 2, dataOffset: 74, dataLength: 96, durationMs: 1 });
    const low = riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 1, rate: 8000, bits: 16 })), pcmData(16)]);
    assert.equal(inspectWav(low).sampleRate, 8000);
  });

  it('accepts a data chunk starting exactly at the header limit', () => {
    const wav = riff([pcmFmt(), rawChunk('JUNK', new Uint8Array(100)), pcmData()]);
    assert.equal(inspectWav(wav).dataOffset, 152);
    assert.equal(inspectWav(wav, { maxHeaderBytes: 152 }).dataOffset, 152);
    rejects(wav, 'header_too_large', /first 151 bytes/, { maxHeaderBytes: 151 });
    assert.equal(wavFailsAtByte(wav, { maxHeaderBytes: 151 }), 44); // known from the JUNK chunk header
  });
});

// ---------------------------------------------------------------------------------------------

describe('invalid files', () => {
  it('truncated data: declared N bytes, got M (only known at finish)', () => {
    const wav = base();
    const cut = wav.subarray(0, wav.length - 10);
    assert.equal(wavFailsAtByte(cut), -1);
    const err = rejects(cut, 'truncated', new RegExp(`declared ${wav.length} bytes, got ${wav.length - 10}`));
    assert.equal(err.status, 400);
    rejects(wav.subarray(0, 7), 'truncated', /got 7 bytes/);
    rejects(new Uint8Array(0), 'truncated', /got 0 bytes/);
  });

  it('bad RIFF magic, rejected at the first wrong byte', () => {
    const bad = patched(base(), (b) => b.write('RIFQ', 0, 'latin1'));
    rejects(bad, 'not_riff', /not a RIFF file/);
    assert.equal(wavFailsAtByte(bad), 4);
    assert.equal(wavFailsAtByte(Buffer.from('<html>')), 1);
  });

  it('RF64 and big-endian RIFX get their own reasons (415)', () => {
    assert.equal(rejects(patched(base(), (b) => b.write('RF64', 0, 'latin1')), 'rf64_unsupported', /RF64/).status, 415);
    assert.equal(rejects(patched(base(), (b) => b.write('RIFX', 0, 'latin1')), 'rifx_unsupported', /RIFX/).status, 415);
  });

  it('a RIFF file that is not WAVE', () => {
    const avi = patched(base(), (b) => b.write('AVI ', 8, 'latin1'));
    rejects(avi, 'not_wave', /not of type WAVE/);
    assert.equal(wavFailsAtByte(avi), 9);
  });

  it('a RIFF size too small to hold a WAVE file', () => {
    rejects(patched(base(), (b) => b.writeUInt32LE(20, 4)), 'riff_size_invalid', /RIFF size 20/);
  });

  it('fmt chunk too short', () => {
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 1, rate: 8000, bits: 16 }).subarray(0, 14)), pcmData()]), 'fmt_too_short', /14 bytes, need at least 16/);
  });

  it('unsupported format tags: MP3, IEEE float, unknown', () => {
    const mp3 = rejects(patched(base(), (b) => b.writeUInt16LE(0x55, 20)), 'unsupported_format', /MP3/);
    assert.equal(mp3.status, 415);
    rejects(patched(base(), (b) => b.writeUInt16LE(3, 20)), 'unsupported_format', /float/);
    rejects(patched(base(), (b) => b.writeUInt16LE(0x11, 20)), 'unsupported_format', /0x0011/);
  });

  it('extensible with a float, MP3 or non-standard subformat', () => {
    rejects(patched(base('pcm_s16le', true), (b) => b.writeUInt16LE(3, 44)), 'unsupported_format', /float/);
    rejects(patched(base('pcma', true), (b) => b.writeUInt16LE(0x55, 44)), 'unsupported_format', /MP3/);
    rejects(patched(base('pcmu', true), (b) => (b[50] = 0x11)), 'unsupported_format', /subformat/);
  });

  it('extensible whose valid bits or extension size do not match', () => {
    rejects(patched(base('pcm_s16le', true), (b) => b.writeUInt16LE(12, 38)), 'extensible_invalid', /valid bits per sample \(12\)/);
    rejects(patched(base('pcma', true), (b) => b.writeUInt16LE(0, 36)), 'extensible_invalid', /extension is 0 bytes/);
    const short = riff([rawChunk('fmt ', Buffer.concat([fmtBody({ tag: 0xfffe, channels: 1, rate: 8000, bits: 16 }), Buffer.alloc(2)])), pcmData()]);
    rejects(short, 'extensible_invalid', /18 bytes, need 40/);
  });

  it('8-bit and 24-bit PCM, 16-bit G.711', () => {
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 1, rate: 8000, bits: 8 })), pcmData()]), 'unsupported_bits', /8-bit PCM/);
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 1, rate: 8000, bits: 24 })), pcmData(1599)]), 'unsupported_bits', /24-bit PCM/);
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 6, channels: 1, rate: 8000, bits: 16 })), pcmData()]), 'unsupported_bits', /8 bits per sample, not 16/);
    rejects(patched(base('pcmu', true), (b) => b.writeUInt16LE(16, 34)), 'unsupported_bits', /not 16/);
  });

  it('3 channels and 0 channels', () => {
    const e = rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 3, rate: 8000, bits: 16 })), pcmData(1596)]), 'unsupported_channels', /3 channels/);
    assert.equal(e.status, 415);
    rejects(patched(base(), (b) => b.writeUInt16LE(0, 22)), 'unsupported_channels', /0 channels/);
  });

  it('sample rates 4000 and 96000', () => {
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 7, channels: 1, rate: 4000, bits: 8 })), pcmData()]), 'unsupported_sample_rate', /4000 Hz/);
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 2, rate: 96000, bits: 16 })), pcmData()]), 'unsupported_sample_rate', /96000 Hz/);
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 1, rate: 7999, bits: 16 })), pcmData()]), 'unsupported_sample_rate', /7999/);
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 1, rate: 48001, bits: 16 })), pcmData()]), 'unsupported_sample_rate', /48001/);
  });

  it('inconsistent blockAlign or byteRate', () => {
    rejects(riff([rawChunk('fmt ', fmtBody({ tag: 1, channels: 2, rate: 8000, bits: 16, blockAlign: 2, byteRate: 16000 })), pcmData()]), 'inconsistent_block_align', /blockAlign is 2, expected 4/);
    rejects(patched(base('pcma'), (b) => b.writeUInt32LE(16000, 28)), 'inconsistent_byte_rate', /byteRate is 16000, expected 8000/);
    rejects(patched(base('pcm_s16le', true, 2), (b) => b.writeUInt32LE(32001, 28)), 'inconsistent_byte_rate', /expected 32000/);
  });

  it('data before fmt, and missing fmt or data', () => {
    rejects(riff([pcmData(), pcmFmt()]), 'data_before_fmt', /before the fmt/);
    rejects(riff([rawChunk('LIST', new Uint8Array(40))]), 'fmt_missing', /no fmt chunk/);
    rejects(riff([pcmFmt(), rawChunk('LIST', new Uint8Array(40))]), 'data_missing', /no data chunk/);
  });

  it('two data chunks, rejected at the second header', () => {
    const wav = riff([pcmFmt(), pcmData(), rawChunk('LIST', new Uint8Array(2)), pcmData()]);
    rejects(wav, 'data_duplicate', /second data chunk at offset 1654/);
    assert.equal(wavFailsAtByte(wav), 1654 + 8);
  });

  it('two fmt chunks, before or after data', () => {
    rejects(riff([pcmFmt(), pcmFmt(), pcmData()]), 'fmt_duplicate', /offset 36/);
    rejects(riff([pcmFmt(), pcmData(), pcmFmt()]), 'fmt_duplicate', /second fmt/);
  });

  it('header over the limit, rejected from the chunk header alone', () => {
    const wav = riff([pcmFmt(), rawChunk('LIST', new Uint8Array(1024 * 1024)), pcmData()]);
    rejects(wav, 'header_too_large', /within the first 1048576 bytes/);
    const insp = new WavInspector();
    insp.feed(wav.subarray(0, 36 + 7));
    const err = wavErrorOf(() => insp.feed(wav.subarray(43, 44)));
    assert.equal(err.reason, 'header_too_large');
    rejects(base(), 'header_too_large', /first 40 bytes/, { maxHeaderBytes: 40 });
    assert.throws(() => new WavInspector({ maxHeaderBytes: 0 }), RangeError);
  });

  it('data length not a multiple of blockAlign', () => {
    const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 2, samples: new Uint8Array(4002) });
    rejects(wav, 'data_misaligned', /data length 4002 is not a multiple of the block size 4/);
    rejects(riff([pcmFmt(), pcmData(1599)]), 'data_misaligned', /1599/);
  });

  it('empty data', () => {
    const e = rejects(riff([pcmFmt(), pcmData(0)]), 'data_empty', /no samples/);
    assert.equal(e.status, 400);
  });

  it('trailing bytes beyond the RIFF size and its pad byte', () => {
    const wav = base();
    rejects(Buffer.concat([wav, Buffer.alloc(2)]), 'trailing_bytes', new RegExp(`bytes after the declared RIFF end at ${wav.length}`));
    rejects(Buffer.concat([wav, Buffer.alloc(1)]), 'trailing_bytes', /no pad byte/); // RIFF size even: no pad
    const odd = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 1, samples: new Uint8Array(801) });
    const excl = patched(odd, (b) => b.writeUInt32LE(b.length - 9, 4));
    assert.equal(inspectWav(excl).dataLength, 801); // pad byte present, outside the odd RIFF size
    rejects(Buffer.concat([excl, Buffer.alloc(1)]), 'trailing_bytes', /one pad byte/);
    assert.equal(wavFailsAtByte(Buffer.concat([wav, Buffer.alloc(5)])), wav.length + 1);
  });

  it('chunks overrunning the RIFF size, stray bytes, bad chunk ids', () => {
    rejects(riff([pcmFmt(), rawChunk('data', new Uint8Array(1600), 1_000_000)]), 'chunk_overruns_riff', /declares 1000000 bytes/);
    rejects(riff([pcmFmt(), pcmData(), Buffer.alloc(6)]), 'stray_bytes', /last 6 bytes/);
    const bad = riff([pcmFmt(), rawChunk('L\x00ST', new Uint8Array(4)), pcmData()]);
    const err = rejects(bad, 'bad_chunk_id', /offset 36 has an invalid id/);
    assert.ok(!err.message.includes('L'));
  });

  it('errors are sticky', () => {
    const insp = new WavInspector();
    const first = wavErrorOf(() => insp.feed(Buffer.from('RIFX')));
    assert.equal(wavErrorOf(() => insp.feed(base())), first);
    assert.equal(wavErrorOf(() => insp.finish()), first);
  });
});

// ---------------------------------------------------------------------------------------------

describe('robustness', () => {
  it('random garbage never throws anything but WavError (property)', () => {
    const prefix = fc.constantFrom(new Uint8Array(0), Buffer.from('RIFF'), Buffer.from('RIFF\xff\xff\x00\x00WAVE', 'latin1'), Buffer.from('RIFF\x40\x00\x00\x00WAVEfmt ', 'latin1'));
    fc.assert(fc.property(prefix, fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (p, tail, rawCuts) => {
      const bytes = Buffer.concat([p, tail]);
      const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
      const whole = outcome(() => inspectWav(bytes));
      const split = outcome(() => feedSplit(bytes, cuts));
      assert.deepEqual(split, whole);
    }), { numRuns: 1000 });
  });

  it('mutated valid files: split-invariant verdicts, WavError only, nothing from the file in messages (property)', () => {
    const valid = makeWav({
      codec: 'pcma', sampleRate: 8000, channels: 2, samples: new Uint8Array(200).fill(0x31), extensible: true,
      extraChunks: [{ id: 'LIST', data: Buffer.from(SECRET), where: 'before' }, { id: 'note', data: Buffer.from(SECRET), where: 'after' }],
    });
    const mutation = fc.record({
      writes: fc.array(fc.record({ at: fc.nat(valid.length - 1), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
      keep: fc.option(fc.nat(valid.length)),
      append: fc.uint8Array({ maxLength: 20 }),
    });
    let rejected = 0;
    fc.assert(fc.property(mutation, fc.array(fc.nat(), { maxLength: 6 }), (m, rawCuts) => {
      const bytes = patched(valid, (b) => m.writes.forEach((w) => (b[w.at] = w.value)));
      const mutated = Buffer.concat([bytes.subarray(0, m.keep ?? bytes.length), m.append]);
      const cuts = rawCuts.map((c) => c % (mutated.length + 1)).sort((a, b) => a - b);
      const whole = outcome(() => inspectWav(mutated));
      assert.deepEqual(outcome(() => feedSplit(mutated, cuts)), whole);
      if ('reason' in whole) {
        rejected++;
        assert.match(whole.message, /^[a-zA-Z0-9 .,:()+\-_]*$/);
        assert.ok(!whole.message.includes('19121212') && !whole.message.includes('PNR') && !whole.message.includes('note'));
      }
    }), { numRuns: 600 });
    assert.ok(rejected > 100, `only ${rejected} mutations were rejected`);
  });
});

describe('memory', () => {
  it('50 MB of audio passes through without buffering more than the header', () => {
    const total = 50 * 1024 * 1024;
    const header = patched(makeWav({ codec: 'pcm_s16le', sampleRate: 16000, channels: 2, samples: new Uint8Array(0) }), (b) => {
      b.writeUInt32LE(36 + total, 4);
      b.writeUInt32LE(total, 40);
    });
    const insp = new WavInspector();
    let maxBuffered = 0;
    for (let i = 0; i < header.length; i++) {
      insp.feed(header.subarray(i, i + 1));
      maxBuffered = Math.max(maxBuffered, insp.bufferedBytes);
    }
    assert.ok(maxBuffered > 0 && maxBuffered <= 40, `buffered ${maxBuffered}`);
    const piece = new Uint8Array(64 * 1024).fill(0x5a);
    for (let sent = 0; sent < total; sent += piece.length) {
      insp.feed(piece);
      maxBuffered = Math.max(maxBuffered, insp.bufferedBytes);
      assert.equal(insp.bufferedBytes, 0);
    }
    const info = insp.finish();
    assert.equal(insp.bytesSeen, 44 + total);
    assert.equal(info.dataLength, total);
    assert.equal(info.durationMs, Math.round((total / 4 / 16000) * 1000));
  });

  it('keeps no reference to the pieces it was fed', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const wav = base();
    const insp = new WavInspector();
    // Fed from a synchronous helper so that no suspended frame of this async test holds a piece.
    const feedCopies = (ranges: Array<[number, number]>) => ranges.map(([from, to]) => {
      const piece = Uint8Array.from(wav.subarray(from, to));
      insp.feed(piece);
      return new WeakRef(piece);
    });
    const refs = feedCopies([[0, 50], [50, 1000]]); // a piece holding the header, then one of audio
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.deepEqual(refs.map((r) => r.deref()), [undefined, undefined]);
    insp.feed(wav.subarray(1000));
    assert.equal(insp.finish().dataLength, 1600);
  });
});

// ---------------------------------------------------------------------------------------------
// Streamed files (live uploads): unknown and placeholder sizes, and cut-short streams.

const STREAMED = { allowUnknownSizes: true };

/** Offset of the first audio byte of a WAV built by makeWav without extra chunks (44 for PCM, 46 for G.711). */
const dataStart = (wav: Buffer) => wav.indexOf('data', 12, 'latin1') + 8;

/** A WAV with its RIFF and data sizes overwritten. */
function withSizes(wav: Buffer, riffSize: number, dataSize: number): Buffer {
  return patched(wav, (b) => {
    b.writeUInt32LE(riffSize, 4);
    b.writeUInt32LE(dataSize, dataStart(b) - 4);
  });
}

function truncatedInfo(bytes: Uint8Array, opts?: WavInspectorOptions): WavInfo {
  const insp = new WavInspector(opts);
  insp.feed(bytes);
  return insp.finishTruncated();
}

describe('streamed files with unknown sizes', () => {
  const audio = (frames: number, channels: 1 | 2 = 1) => new Uint8Array(frames * 2 * channels).map((_, i) => (i * 7) & 0xff);
  const plain = (frames: number, channels: 1 | 2 = 1) => makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels, samples: audio(frames, channels) });

  it('RIFF and data sizes of 0xFFFFFFFF or 0 mean "until the end" (and are refused without the option)', () => {
    for (const [riffSize, dataSize] of [[0xffffffff, 0xffffffff], [0, 0], [0xffffffff, 0], [36, 0], [0, 0xffffffff]]) {
      const wav = withSizes(plain(800), riffSize!, dataSize!);
      const expected: WavInfo = { codec: 'pcm_s16le', sampleRate: 8000, channels: 1, bitsPerSample: 16, blockAlign: 2, dataOffset: 44, dataLength: 1600, durationMs: 100 };
      assert.deepEqual({ ...inspectWav(wav, STREAMED) }, expected);
      assert.deepEqual({ ...feedSplit(wav, Array.from({ length: wav.length }, (_, i) => i), STREAMED) }, expected);
      assert.equal(wavErrorOf(() => inspectWav(wav)).status, 400);
    }
  });

  it('open-ended data must be the last chunk: whatever follows its header is audio', () => {
    const wav = Buffer.concat([withSizes(plain(10), 0xffffffff, 0xffffffff), rawChunk('LIST', Buffer.from(SECRET))]);
    assert.equal(inspectWav(wav, STREAMED).dataLength, 20 + 8 + SECRET.length + (SECRET.length % 2));
  });

  it('finish: a partial frame or no audio at all is refused; finishTruncated drops or reports it', () => {
    const stereo = withSizes(plain(400, 2), 0xffffffff, 0xffffffff);
    const ragged = stereo.subarray(0, stereo.length - 3);
    rejects(ragged, 'data_misaligned', /data length 1597 is not a multiple of the block size 4/, STREAMED);
    assert.deepEqual([truncatedInfo(ragged, STREAMED).dataLength, truncatedInfo(ragged, STREAMED).durationMs], [1596, 50]);
    const empty = stereo.subarray(0, 44);
    rejects(empty, 'data_empty', /no samples/, STREAMED);
    assert.equal(truncatedInfo(empty, STREAMED).durationMs, 0);
  });

  it('a placeholder data size is read as "until the end" only under an unknown RIFF size', () => {
    assert.equal(inspectWav(withSizes(plain(800), 0xffffffff, 0x7ffff000), STREAMED).dataLength, 1600);
    assert.equal(inspectWav(withSizes(plain(800), 0, 0x7ffff000), STREAMED).durationMs, 100);
    rejects(withSizes(plain(800), 0, 0x7ffff000).subarray(0, 1643), 'data_misaligned', /1599/, STREAMED);
    // Self-consistent placeholder sizes (as some tools write) look like a complete file cut short:
    // finish() stays strict, finishTruncated() describes what arrived.
    const sox = withSizes(plain(800), 0x7ffff000 + 36, 0x7ffff000);
    rejects(sox, 'truncated', new RegExp(`declared ${0x7ffff000 + 44} bytes, got 1644`), STREAMED);
    assert.equal(truncatedInfo(sox, STREAMED).durationMs, 100);
    const cut = plain(800).subarray(0, 1000); // a file with correct sizes, cut short
    rejects(cut, 'truncated', /declared 1644 bytes, got 1000/, STREAMED);
    assert.deepEqual([truncatedInfo(cut, STREAMED).dataLength, truncatedInfo(cut, STREAMED).durationMs], [956, 60]);
  });

  it('unknown RIFF size, known data size: chunks may follow, the stream must end between chunks', () => {
    const list = rawChunk('LIST', Buffer.from(SECRET));
    const wav = Buffer.concat([withSizes(plain(800), 0xffffffff, 1600), list]);
    assert.equal(inspectWav(wav, STREAMED).dataLength, 1600);
    rejects(wav.subarray(0, wav.length - 3), 'truncated', new RegExp(`ends inside a chunk, at byte ${wav.length - 3}`), STREAMED);
    rejects(wav.subarray(0, 1644 + 5), 'truncated', /inside a chunk/, STREAMED);
    assert.equal(truncatedInfo(wav.subarray(0, wav.length - 3), STREAMED).dataLength, 1600);
    rejects(Buffer.concat([wav, pcmData()]), 'data_duplicate', /second data chunk/, STREAMED);
  });

  it('the other checks stay strict', () => {
    rejects(withSizes(base('pcma'), 20, 0), 'riff_size_invalid', /RIFF size 20/, STREAMED);
    rejects(riff([rawChunk('data', new Uint8Array(0)), pcmFmt()], 0xffffffff), 'data_before_fmt', /before the fmt/, STREAMED);
    rejects(patched(withSizes(base(), 0, 0), (b) => b.writeUInt16LE(3, 22)), 'unsupported_channels', /3 channels/, STREAMED);
    const late = riff([pcmFmt(), rawChunk('LIST', new Uint8Array(200)), rawChunk('data', new Uint8Array(0))], 0);
    rejects(late, 'header_too_large', /first 100 bytes/, { ...STREAMED, maxHeaderBytes: 100 });
  });

  it('random streamed files: any split gives the same outcome, every prefix describes its complete frames (property)', () => {
    const arb = fc.record({
      codec: fc.constantFrom(...CODECS),
      channels: fc.constantFrom(1 as const, 2 as const),
      frames: fc.integer({ min: 0, max: 300 }),
      sizes: fc.constantFrom<[number, number]>([0, 0], [0xffffffff, 0xffffffff], [0xffffffff, 0], [0, 0x7ffff000]),
      extra: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(fc.property(arb, fc.nat(), fc.array(fc.nat(), { maxLength: 6 }), (spec, rawCut, rawCuts) => {
      const blockAlign = (spec.channels * BITS[spec.codec]) / 8;
      const samples = new Uint8Array(spec.frames * blockAlign + spec.extra).fill(0x55);
      const wav = withSizes(makeWav({ codec: spec.codec, sampleRate: 16000, channels: spec.channels, samples }), ...spec.sizes);
      const cuts = rawCuts.map((c) => c % (wav.length + 1)).sort((a, b) => a - b);
      const whole = outcome(() => inspectWav(wav, STREAMED));
      assert.deepEqual(outcome(() => feedSplit(wav, cuts, STREAMED)), whole);
      const start = dataStart(wav);
      const dataLength = wav.length - start; // with makeWav's pad byte when odd: all of it is audio now
      if (dataLength > 0 && dataLength % blockAlign === 0) assert.equal('ok' in whole && whole.ok.durationMs, Math.round((dataLength / blockAlign * 1000) / 16000));
      else assert.equal('reason' in whole && whole.reason, dataLength === 0 ? 'data_empty' : 'data_misaligned');
      const cut = rawCut % (wav.length + 1);
      const prefix = outcome(() => truncatedInfo(wav.subarray(0, cut), STREAMED));
      if (cut < start) {
        assert.equal('reason' in prefix && prefix.reason, 'truncated');
      } else {
        const frames = Math.floor((cut - start) / blockAlign);
        assert.deepEqual('ok' in prefix && [prefix.ok.dataLength, prefix.ok.durationMs], [frames * blockAlign, Math.round((frames * 1000) / 16000)]);
      }
    }), { numRuns: 300 });
  });

  it('50 MB of open-ended audio pass through holding nothing', () => {
    const insp = new WavInspector(STREAMED);
    insp.feed(withSizes(plain(0), 0xffffffff, 0xffffffff));
    const piece = new Uint8Array(64 * 1024).fill(0x11);
    for (let sent = 0; sent < 50 * 1024 * 1024; sent += piece.length) {
      insp.feed(piece);
      assert.equal(insp.bufferedBytes, 0);
    }
    assert.equal(insp.finish().durationMs, Math.round((50 * 1024 * 1024 / 2 / 8000) * 1000));
  });
});

describe('finishTruncated', () => {
  it('describes the complete frames of a file cut anywhere after its data chunk header', () => {
    const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 2, samples: sineWaveS16({ sampleRate: 8000, seconds: 1, hz: 300, channels: 2 }),
      extraChunks: [{ id: 'LIST', data: Buffer.from(SECRET), where: 'after' }] });
    for (const [cut, frames] of [[44, 0], [45, 0], [48, 1], [44 + 4 * 4000 + 3, 4000], [44 + 32000 + 5, 8000], [wav.length, 8000]] as const) {
      const got = truncatedInfo(wav.subarray(0, cut));
      assert.deepEqual([got.dataLength, got.durationMs], [frames * 4, Math.round(frames / 8)], `cut at ${cut}`);
    }
    for (const cut of [0, 11, 12, 43]) {
      const err = wavErrorOf(() => truncatedInfo(wav.subarray(0, cut)));
      assert.equal(err.reason, 'truncated');
      assert.match(err.message, cut < 12 ? new RegExp(`got ${cut} bytes, less than a RIFF header`) : new RegExp(`ends at byte ${cut}, before the data chunk`));
    }
  });

  it('works after a failed finish(), not after a failed feed(), and closes the inspector', () => {
    const wav = base();
    const insp = new WavInspector();
    insp.feed(wav.subarray(0, 100));
    assert.equal(wavErrorOf(() => insp.finish()).reason, 'truncated');
    assert.equal(insp.finishTruncated().dataLength, 56);
    assert.equal(insp.finishTruncated(), insp.finishTruncated());
    assert.throws(() => insp.feed(new Uint8Array(1)), /after finish/);
    const bad = new WavInspector();
    const first = wavErrorOf(() => bad.feed(patched(wav, (b) => b.writeUInt16LE(3, 20))));
    assert.equal(wavErrorOf(() => bad.finishTruncated()), first);
  });

  it('WavError is an AudioError with the same status rules', () => {
    const err = wavErrorOf(() => inspectWav(patched(base(), (b) => b.write('RF64', 0, 'latin1'))));
    assert.ok(err instanceof AudioError);
    assert.deepEqual([err.name, err.status], ['WavError', 415]);
  });
});
