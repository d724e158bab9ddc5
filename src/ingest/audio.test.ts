// The codec-independent entry points: declarations, createAudioInspector, raw G.711, and the
// properties every inspector shares.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  AudioError, createAudioInspector, validateDeclaration,
  type AudioDeclaration, type AudioInfo, type AudioInspector,
} from './audio.ts';
import { linearToAlaw, linearToMulaw, makeWav, sineWaveS16 } from './wav.ts';
import { errorOf } from './test-audio.ts';
import { makeRawG711 } from './g711.ts';
import { makeOggOpus } from './ogg-make.ts';

const SECRET = 'PNR 19121212-1212 caller +46701234567';


function feedAll(decl: AudioDeclaration, bytes: Uint8Array, cuts: number[] = []): AudioInspector {
  const insp = createAudioInspector(decl);
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    insp.feed(bytes.subarray(prev, cut));
    prev = cut;
  }
  assert.equal(insp.bytesSeen, bytes.length);
  return insp;
}

type Outcome = { ok: AudioInfo } | { reason: string; status: number; message: string };
function outcome(fn: () => AudioInfo): Outcome {
  try {
    return { ok: { ...fn() } };
  } catch (err) {
    if (!(err instanceof AudioError)) throw err;
    return { reason: err.reason, status: err.status, message: err.message };
  }
}

const PCMU: AudioDeclaration = { codec: 'pcmu', sampleRate: 8000, channels: 2 };

describe('validateDeclaration', () => {
  it('parses Upload-Metadata strings; codec defaults to wav', () => {
    assert.deepEqual(validateDeclaration({}), { codec: 'wav' });
    assert.deepEqual(validateDeclaration({ codec: 'ogg-opus' }), { codec: 'ogg-opus' });
    assert.deepEqual(validateDeclaration({ codec: 'pcma', sampleRate: '16000', channels: '1' }), { codec: 'pcma', sampleRate: 16000, channels: 1 });
    assert.deepEqual(validateDeclaration({ codec: 'pcmu', sampleRate: '48000', channels: '2' }), { codec: 'pcmu', sampleRate: 48000, channels: 2 });
  });

  it('refuses with status 400, naming the field and never echoing its value', () => {
    const cases: Array<[Record<string, string>, string, RegExp]> = [
      [{ codec: 'mp3' }, 'codec_unknown', /^codec must be one of wav, pcmu, pcma, ogg-opus$/],
      [{ codec: 'WAV' }, 'codec_unknown', /codec must be one of/],
      [{ codec: '' }, 'codec_unknown', /codec must be one of/],
      [{ codec: 'pcmu', channels: '1' }, 'field_required', /^sampleRate is required for codec pcmu/],
      [{ codec: 'pcma', sampleRate: '8000' }, 'field_required', /^channels is required for codec pcma/],
      [{ codec: 'pcmu', sampleRate: '7999', channels: '1' }, 'sample_rate_invalid', /^sampleRate must be an integer from 8000 to 48000$/],
      [{ codec: 'pcmu', sampleRate: '48001', channels: '1' }, 'sample_rate_invalid', /sampleRate/],
      [{ codec: 'pcmu', sampleRate: '8000.5', channels: '1' }, 'sample_rate_invalid', /sampleRate/],
      [{ codec: 'pcmu', sampleRate: ' 8000', channels: '1' }, 'sample_rate_invalid', /sampleRate/],
      [{ codec: 'pcmu', sampleRate: '08000', channels: '1' }, 'sample_rate_invalid', /sampleRate/],
      [{ codec: 'pcmu', sampleRate: '1e4', channels: '1' }, 'sample_rate_invalid', /sampleRate/],
      [{ codec: 'pcmu', sampleRate: '8000', channels: '3' }, 'channels_invalid', /^channels must be 1 or 2$/],
      [{ codec: 'pcmu', sampleRate: '8000', channels: '' }, 'channels_invalid', /channels/],
      [{ sampleRate: '8000' }, 'field_not_allowed', /^sampleRate must not be given for codec wav: its header carries it$/],
      [{ codec: 'ogg-opus', channels: SECRET }, 'field_not_allowed', /^channels must not be given for codec ogg-opus/],
    ];
    for (const [fields, reason, message] of cases) {
      const err = errorOf(() => validateDeclaration({ ...fields, ...(fields.codec === 'mp3' ? { sampleRate: SECRET } : {}) }));
      assert.deepEqual([err.reason, err.status], [reason, 400], JSON.stringify(fields));
      assert.match(err.message, message);
      assert.ok(!err.message.includes('19121212') && !err.message.includes('mp3') && !err.message.includes('7999'));
    }
  });

  it('createAudioInspector checks a declaration built in code the same way', () => {
    assert.equal(errorOf(() => createAudioInspector({ codec: 'pcmu', sampleRate: 8000 })).reason, 'field_required');
    assert.equal(errorOf(() => createAudioInspector({ codec: 'pcmu', sampleRate: 8000.5, channels: 1 })).reason, 'sample_rate_invalid');
    assert.equal(errorOf(() => createAudioInspector({ codec: 'wav', channels: 2 })).reason, 'field_not_allowed');
    assert.equal(errorOf(() => createAudioInspector({ codec: 'flac' as 'wav' })).reason, 'codec_unknown');
  });
});

// ---------------------------------------------------------------------------------------------

describe('raw G.711', () => {
  it('makeRawG711 encodes the tone of sineWaveS16, legs interleaved', () => {
    const raw = makeRawG711({ codec: 'pcma', sampleRate: 8000, channels: 2, seconds: 0.5, hz: 300 });
    const pcm = new DataView(sineWaveS16({ sampleRate: 8000, seconds: 0.5, hz: 300, channels: 2 }).buffer);
    assert.equal(raw.length, 8000);
    for (let i = 0; i < raw.length; i++) assert.equal(raw[i], linearToAlaw(pcm.getInt16(i * 2, true)));
    const mono = makeRawG711({ codec: 'pcmu', sampleRate: 16000, channels: 1, seconds: 0.25 });
    assert.equal(mono.length, 4000);
    assert.equal(mono[4], linearToMulaw(Math.round(16383 * Math.sin((2 * Math.PI * 440 * 4) / 16000))));
    assert.throws(() => makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: -1 }), RangeError);
  });

  it('any bytes are samples: duration from length, rate and channels; format known at once', () => {
    const insp = createAudioInspector({ codec: 'pcmu', sampleRate: 16000, channels: 1 });
    assert.deepEqual(insp.format, { codec: 'pcmu', container: 'raw', sampleRate: 16000, channels: 1 });
    insp.feed(Buffer.from(SECRET));
    insp.feed(makeRawG711({ codec: 'pcmu', sampleRate: 16000, channels: 1, seconds: 2 }));
    assert.deepEqual({ ...insp.finish() }, { codec: 'pcmu', container: 'raw', sampleRate: 16000, channels: 1, durationMs: Math.round(((32000 + SECRET.length) * 1000) / 16000) });
    assert.throws(() => insp.feed(new Uint8Array(1)), /after finish/);
  });

  it('finish refuses an empty stream or a partial stereo frame; finishTruncated drops it', () => {
    const raw = makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 2, seconds: 1 });
    assert.equal(feedAll(PCMU, raw).finish().durationMs, 1000);
    const ragged = Buffer.concat([raw, Buffer.from([0xff])]);
    const err = errorOf(() => feedAll(PCMU, ragged).finish());
    assert.deepEqual([err.reason, err.status], ['raw_misaligned', 400]);
    assert.match(err.message, /length 16001 is not a multiple of the 2 bytes of a stereo frame/);
    assert.equal(feedAll(PCMU, ragged).finishTruncated().durationMs, 1000);
    assert.equal(feedAll(PCMU, Buffer.alloc(15)).finishTruncated().durationMs, 1); // 7 frames: 0.875 ms
    assert.equal(feedAll(PCMU, Buffer.alloc(23)).finishTruncated().durationMs, 1); // 11 whole frames (1.375 ms), not 12 (1.5)
    assert.equal(errorOf(() => feedAll(PCMU, new Uint8Array(0)).finish()).reason, 'raw_empty');
    assert.equal(feedAll(PCMU, new Uint8Array(0)).finishTruncated().durationMs, 0);
  });

  it('a WAV or Ogg file declared as raw is refused from its first bytes', () => {
    const wav = makeWav({ codec: 'pcmu', sampleRate: 8000, channels: 2, samples: new Uint8Array(16) });
    const insp = createAudioInspector(PCMU);
    insp.feed(wav.subarray(0, 11));
    const err = errorOf(() => insp.feed(wav.subarray(11, 12)));
    assert.deepEqual([err.reason, err.status], ['raw_is_container', 400]);
    assert.match(err.message, /a WAV file, not raw G.711: declare its codec/);
    assert.equal(errorOf(() => insp.finishTruncated()), err);
    assert.match(errorOf(() => feedAll(PCMU, makeOggOpus({ channels: 1, seconds: 0.1 }), [1, 2, 3, 4, 5])).message, /an Ogg file/);
    assert.equal(feedAll(PCMU, Buffer.from('RIFF....WAVX')).finish().durationMs, 1); // not a container
    assert.equal(feedAll(PCMU, Buffer.from('OggS\x00\x00', 'latin1')).finish().durationMs, 0); // no BOS flag
  });

  it('50 MB pass through holding nothing after the first 12 bytes', () => {
    const insp = createAudioInspector({ codec: 'pcma', sampleRate: 8000, channels: 1 });
    insp.feed(Buffer.from([1, 2, 3]));
    assert.equal(insp.bufferedBytes, 3);
    const piece = new Uint8Array(64 * 1024).fill(0xd5);
    for (let sent = 0; sent < 50 * 1024 * 1024; sent += piece.length) {
      insp.feed(piece);
      assert.equal(insp.bufferedBytes, 0);
    }
    assert.equal(insp.finish().durationMs, Math.round(((50 * 1024 * 1024 + 3) * 1000) / 8000));
  });
});

// ---------------------------------------------------------------------------------------------

describe('createAudioInspector', () => {
  it('WAV: streamed sizes accepted, info mapped, the prefix of a cut stream described', () => {
    const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 16000, channels: 2, samples: sineWaveS16({ sampleRate: 16000, seconds: 1, hz: 200, channels: 2 }) });
    wav.writeUInt32LE(0xffffffff, 4);
    wav.writeUInt32LE(0xffffffff, 40);
    const insp = feedAll({ codec: 'wav' }, wav, [3, 44]);
    assert.deepEqual(insp.format, { codec: 'pcm_s16le', container: 'wav', sampleRate: 16000, channels: 2 });
    assert.deepEqual({ ...insp.finish() }, { codec: 'pcm_s16le', container: 'wav', sampleRate: 16000, channels: 2, durationMs: 1000 });
    assert.equal(feedAll({ codec: 'wav' }, wav.subarray(0, 44 + 4 * 8000 + 2)).finishTruncated().durationMs, 500);
    const notWav = errorOf(() => feedAll({ codec: 'wav' }, makeOggOpus({ channels: 1, seconds: 0.1 })));
    assert.equal(notWav.reason, 'not_riff');
  });

  it('Ogg Opus: 48 kHz, channels from OpusHead', () => {
    const insp = feedAll({ codec: 'ogg-opus' }, makeOggOpus({ channels: 2, seconds: 4.2 }), [10, 100, 1000]);
    assert.deepEqual({ ...insp.finish() }, { codec: 'opus', container: 'ogg', sampleRate: 48000, channels: 2, durationMs: 4200 });
    assert.equal(errorOf(() => feedAll({ codec: 'ogg-opus' }, makeRawG711({ codec: 'pcmu', sampleRate: 8000, channels: 1, seconds: 0.1 }))).reason, 'not_ogg');
  });
});

describe('properties shared by every inspector', () => {
  const decls: AudioDeclaration[] = [{ codec: 'wav' }, { codec: 'ogg-opus' }, PCMU, { codec: 'pcma', sampleRate: 11025, channels: 1 }];
  const valid = fc.oneof(
    fc.record({ channels: fc.constantFrom(1 as const, 2 as const), seconds: fc.integer({ min: 1, max: 30 }).map((n) => n / 10) })
      .map((o) => ({ decl: { codec: 'ogg-opus' } as AudioDeclaration, bytes: makeOggOpus(o), ms: o.seconds * 1000, prefixMs: null })),
    fc.record({ codec: fc.constantFrom('pcmu' as const, 'pcma' as const), sampleRate: fc.integer({ min: 8000, max: 48000 }), channels: fc.constantFrom(1 as const, 2 as const), seconds: fc.integer({ min: 1, max: 20 }).map((n) => n / 10) })
      .map((o) => ({
        decl: { codec: o.codec, sampleRate: o.sampleRate, channels: o.channels } as AudioDeclaration, bytes: makeRawG711(o),
        ms: Math.round((Math.round(o.sampleRate * o.seconds) * 1000) / o.sampleRate),
        prefixMs: (cut: number) => Math.round((Math.floor(cut / o.channels) * 1000) / o.sampleRate),
      })),
    fc.record({ channels: fc.constantFrom(1 as const, 2 as const), frames: fc.integer({ min: 1, max: 4000 }), open: fc.boolean() })
      .map((o) => {
        const wav = makeWav({ codec: 'pcma', sampleRate: 8000, channels: o.channels, samples: new Uint8Array(o.frames * o.channels).fill(0xd5) });
        if (o.open && (o.frames * o.channels) % 2 === 0) wav.writeUInt32LE(0, 42); // no pad byte to become audio
        const prefixMs = (cut: number) => (cut < 46 ? null : Math.round(Math.floor((Math.min(cut, 46 + o.frames * o.channels) - 46) / o.channels) / 8));
        return { decl: { codec: 'wav' } as AudioDeclaration, bytes: wav, ms: Math.round(o.frames / 8), prefixMs };
      }),
  );

  it('valid streams: same info in any split; every prefix from the header on describes itself (property)', () => {
    fc.assert(fc.property(valid, fc.array(fc.nat(), { maxLength: 10 }), fc.nat(), ({ decl, bytes, ms, prefixMs }, rawCuts, rawCut) => {
      const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
      const whole = outcome(() => feedAll(decl, bytes).finish());
      assert.deepEqual(whole, outcome(() => feedAll(decl, bytes, cuts).finish()));
      assert.equal('ok' in whole && whole.ok.durationMs, ms);
      const cut = rawCut % (bytes.length + 1);
      const insp = feedAll(decl, bytes.subarray(0, cut), cuts.filter((c) => c <= cut));
      const prefix = outcome(() => insp.finishTruncated());
      if (insp.format) assert.ok('ok' in prefix && prefix.ok.durationMs <= ms, JSON.stringify(prefix));
      else assert.equal('reason' in prefix && prefix.reason, 'truncated');
      const expected = prefixMs?.(cut); // Ogg prefixes are checked page by page in ogg.test.ts
      if (expected !== undefined) assert.deepEqual('ok' in prefix ? prefix.ok.durationMs : null, expected);
    }), { numRuns: 200 });
  });

  it('garbage: only AudioError, the same verdict in any split, messages free of stream bytes (property)', () => {
    const junk = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(Buffer.from(SECRET)),
      fc.uint8Array({ maxLength: 200 }).map((t) => Buffer.concat([Buffer.from('OggS\x00\x02', 'latin1'), t])),
      fc.uint8Array({ maxLength: 200 }).map((t) => Buffer.concat([Buffer.from('RIFF\xff\xff\xff\xffWAVEfmt ', 'latin1'), t])));
    fc.assert(fc.property(fc.constantFrom(...decls), junk, fc.array(fc.nat(), { maxLength: 8 }), (decl, bytes, rawCuts) => {
      const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
      for (const end of ['finish', 'finishTruncated'] as const) {
        const whole = outcome(() => feedAll(decl, bytes)[end]());
        assert.deepEqual(outcome(() => feedAll(decl, bytes, cuts)[end]()), whole);
        if ('reason' in whole) assert.ok(!whole.message.includes('19121212') && !whole.message.includes('PNR'));
      }
    }), { numRuns: 800 });
  });
});
