// Opus packet framing (RFC 6716 section 3), OpusHead and OpusTags parsing, and the CRC of Ogg.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AudioError } from './audio-error.ts';
import { oggCrc32 } from './ogg.ts';
import { opusHeadPacket, opusTagsPacket } from './ogg-make.ts';
import { MAX_TAGS_PACKET, OpusTagsReader, frameSamples, opusPacketSamples, parseOpusHead } from './ogg-opus-packets.ts';
import { errorOf } from './test-audio.ts';


/** The CRC of RFC 3533 computed bit by bit, the slow way, to check the table-driven one. */
function bitwiseCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const top = ((crc >>> 31) ^ (byte >> bit)) & 1;
      crc = ((crc << 1) ^ (top ? 0x04c11db7 : 0)) >>> 0;
    }
  }
  return crc;
}

describe('Ogg CRC-32', () => {
  it('matches the check value of the non-reflected, zero-initialised CRC-32 (0x89A1897F for "123456789")', () => {
    assert.equal(oggCrc32(Buffer.from('123456789')), 0x89a1897f);
    assert.equal(oggCrc32(new Uint8Array(0)), 0);
  });

  it('equals a bit-by-bit computation, whole or continued piece by piece (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), (bytes, cut) => {
      const at = cut % (bytes.length + 1);
      assert.equal(oggCrc32(bytes), bitwiseCrc(bytes));
      assert.equal(oggCrc32(bytes.subarray(at), oggCrc32(bytes.subarray(0, at))), bitwiseCrc(bytes));
    }), { numRuns: 300 });
  });
});

// ---------------------------------------------------------------------------------------------

/** Frame durations in ms per TOC configuration, transcribed from RFC 6716 table 2. */
const TABLE_MS: number[] = [
  10, 20, 40, 60, 10, 20, 40, 60, 10, 20, 40, 60, // SILK NB, MB, WB
  10, 20, 10, 20, // Hybrid SWB, FB
  2.5, 5, 10, 20, 2.5, 5, 10, 20, 2.5, 5, 10, 20, 2.5, 5, 10, 20, // CELT NB, WB, SWB, FB
];

const samplesOf = (packet: number[] | Uint8Array) => {
  const b = Uint8Array.from(packet);
  return opusPacketSamples(b, b.length, 'packet 1');
};
const invalid = (packet: number[] | Uint8Array, message: RegExp) => {
  const err = errorOf(() => samplesOf(packet));
  assert.equal(err.reason, 'opus_packet_invalid');
  assert.equal(err.status, 400);
  assert.match(err.message, /^packet 1 is not a valid Opus packet: /);
  assert.match(err.message, message);
};
const fill = (n: number, v = 0x33) => new Array<number>(n).fill(v);

describe('Opus packet framing', () => {
  it('reads the frame duration of all 32 configurations', () => {
    for (let config = 0; config < 32; config++) {
      assert.equal(frameSamples(config), TABLE_MS[config]! * 48, `config ${config}`);
      assert.equal(samplesOf([config << 3, 1, 2, 3]), TABLE_MS[config]! * 48);
    }
  });

  it('code 0: one frame of up to 1275 bytes (R2); zero-length frames allowed, empty packets not', () => {
    assert.equal(samplesOf([31 << 3]), 960); // TOC alone: a lost or DTX frame
    assert.equal(samplesOf([31 << 3, ...fill(1275)]), 960);
    invalid([31 << 3, ...fill(1276)], /1276 bytes exceeds 1275/);
    invalid([], /empty/);
  });

  it('code 1: two equal frames, odd payloads refused (R3)', () => {
    assert.equal(samplesOf([(1 << 3) | 1, ...fill(10)]), 2 * 960);
    assert.equal(samplesOf([(1 << 3) | 1]), 2 * 960);
    invalid([(1 << 3) | 1, ...fill(11)], /two equal frames cannot share 11 bytes/);
    invalid([(1 << 3) | 1, ...fill(2552)], /1276 bytes exceeds/);
  });

  it('code 2: a coded first length, one or two bytes (R4)', () => {
    assert.equal(samplesOf([(16 << 3) | 2, 3, ...fill(3), ...fill(9)]), 2 * 120);
    assert.equal(samplesOf([(16 << 3) | 2, 252, 1, ...fill(256)]), 240); // 4 * 1 + 252 = 256, second frame empty
    invalid([(16 << 3) | 2, 252, 1, ...fill(255)], /first frame of 256 bytes runs past the end/);
    invalid([(16 << 3) | 2], /ends at byte 1, inside its framing header/);
    invalid([(16 << 3) | 2, 253], /ends at byte 2/);
    invalid([(16 << 3) | 2, 0, ...fill(1276)], /1276 bytes exceeds/);
  });

  it('code 3 CBR: M frames of equal size, duration at most 120 ms (R5, R6)', () => {
    assert.equal(samplesOf([(31 << 3) | 3, 6, ...fill(60)]), 6 * 960);
    assert.equal(samplesOf([(16 << 3) | 3, 48]), 48 * 120); // 48 empty 2.5 ms frames: 120 ms
    invalid([(16 << 3) | 3, 49], /49 frames last more than 120 ms/);
    invalid([(11 << 3) | 3, 3], /3 frames last more than 120 ms/); // 3 x 60 ms
    invalid([(31 << 3) | 3, 0], /frame count is 0/);
    invalid([(31 << 3) | 3, 4, ...fill(10)], /10 bytes do not divide into 4 equal frames/);
    invalid([(31 << 3) | 3, 1, ...fill(1276)], /1276 bytes exceeds/);
    invalid([(31 << 3) | 3], /inside its framing header/);
  });

  it('code 3 padding: 255 means 254 bytes and another length byte (R6, R7)', () => {
    assert.equal(samplesOf([(31 << 3) | 3, 0x40 | 2, 3, ...fill(8), 0, 0, 0]), 1920);
    assert.equal(samplesOf([(31 << 3) | 3, 0x40 | 1, 255, 0, ...fill(254, 0)]), 960); // 254 bytes of padding, empty frame
    assert.equal(samplesOf([(31 << 3) | 3, 0x40 | 1, 255, 1, ...fill(255, 0)]), 960);
    invalid([(31 << 3) | 3, 0x40 | 1, 255, 1, ...fill(254, 0)], /255 bytes of padding run past the end/);
    invalid([(31 << 3) | 3, 0x40 | 1, 255], /inside its framing header/);
    invalid([(31 << 3) | 3, 0x40 | 1, ...fill(500, 255)], /header is too long|run past the end|framing header/);
  });

  it('code 3 VBR: M - 1 coded lengths, the last frame takes the rest (R7)', () => {
    assert.equal(samplesOf([(30 << 3) | 3, 0x80 | 3, 2, 0, 7, 7, 9, 9, 9]), 3 * 480);
    assert.equal(samplesOf([(30 << 3) | 3, 0xc0 | 2, 2, 1, 5, ...fill(6)]), 2 * 480); // with 2 bytes of padding
    invalid([(30 << 3) | 3, 0x80 | 3, 2, 9, 7, 7], /frame 2 of 9 bytes runs past the end/);
    invalid([(30 << 3) | 3, 0x80 | 2, 0, ...fill(1276)], /last frame of 1276 bytes exceeds/);
    invalid([(30 << 3) | 3, 0x80 | 3, 253], /ends at byte 3, inside its framing header/);
    invalid([(30 << 3) | 3, 0x80 | 3, 2], /frame 1 of 2 bytes runs past the end/);
  });

  it('random packets: a duration that is a multiple of 2.5 ms up to 120 ms, or opus_packet_invalid (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 1400 }), (bytes) => {
      try {
        const samples = samplesOf(bytes);
        assert.ok(samples >= 120 && samples <= 5760 && samples % 120 === 0, `${samples}`);
      } catch (err) {
        assert.ok(err instanceof AudioError && err.reason === 'opus_packet_invalid', String(err));
      }
    }), { numRuns: 2000 });
  });
});

// ---------------------------------------------------------------------------------------------

describe('OpusHead', () => {
  it('reads pre-skip, input rate and output gain', () => {
    const head = parseOpusHead(opusHeadPacket({ channels: 2, preSkip: 3840, inputSampleRate: 16000, gainQ8: -768 }));
    assert.deepEqual(head, { version: 1, channels: 2, preSkip: 3840, inputSampleRate: 16000, outputGainDb: -3 });
  });

  it('accepts minor versions up to 15 with extra fields, refuses major version 1 and up (415)', () => {
    assert.equal(parseOpusHead(opusHeadPacket({ channels: 1, version: 15, extra: new Uint8Array(3) })).version, 15);
    const err = errorOf(() => parseOpusHead(opusHeadPacket({ channels: 1, version: 16 })));
    assert.deepEqual([err.reason, err.status], ['opus_version_unsupported', 415]);
    assert.match(err.message, /version 1\.0 is not supported/);
    assert.match(errorOf(() => parseOpusHead(opusHeadPacket({ channels: 1, extra: new Uint8Array(2) }))).message, /21 bytes; version 1 with mapping family 0 has 19/);
  });

  it('refuses short headers, zero or more than two channels, other mapping families', () => {
    assert.match(errorOf(() => parseOpusHead(opusHeadPacket({ channels: 1 }).subarray(0, 18))).message, /18 bytes, need 19/);
    for (const channels of [0, 3, 255]) {
      const err = errorOf(() => parseOpusHead(opusHeadPacket({ channels })));
      assert.deepEqual([err.reason, err.status], ['opus_head_invalid', 400]);
      assert.match(err.message, new RegExp(`declares ${channels} channels`));
    }
    const multi = errorOf(() => parseOpusHead(opusHeadPacket({ channels: 6, family: 1 })));
    assert.deepEqual([multi.reason, multi.status], ['unsupported_channel_mapping', 415]);
    assert.match(multi.message, /family 1 \(multichannel\)/);
    assert.equal(errorOf(() => parseOpusHead(opusHeadPacket({ channels: 2, family: 255 }))).reason, 'unsupported_channel_mapping');
  });

  it('names other Ogg codecs (415) and calls anything else not Opus (400)', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['\x01vorbis\x00\x00\x00\x00\x02', 'unsupported_codec', /Vorbis audio/],
      ['\x7fFLAC\x01\x00', 'unsupported_codec', /FLAC/],
      ['Speex   1.2', 'unsupported_codec', /Speex/],
      ['\x80theora', 'unsupported_codec', /Theora video/],
      ['OpusTags', 'not_opus', /not an OpusHead header/],
      ['PNR 19121212-1212 caller', 'not_opus', /not an Ogg Opus stream/],
    ];
    for (const [text, reason, message] of cases) {
      const err = errorOf(() => parseOpusHead(Buffer.from(text, 'latin1')));
      assert.equal(err.reason, reason, text);
      assert.match(err.message, message);
      assert.ok(!err.message.includes('19121212'));
    }
  });
});

describe('OpusTags', () => {
  const read = (packet: Uint8Array, pieces = 1) => {
    const r = new OpusTagsReader();
    const step = Math.ceil(packet.length / pieces);
    for (let i = 0; i < packet.length; i += step) r.feed(packet.subarray(i, i + step));
    r.end();
    return r.size;
  };

  it('walks vendor string and comments in any split, with or without trailing padding', () => {
    const packet = opusTagsPacket({ vendor: 'libopus 1.4', comments: ['TITLE=call', '', 'ENCODER=x'], padding: 9 });
    for (const pieces of [1, 2, 7, packet.length]) assert.equal(read(packet, pieces), packet.length);
    assert.equal(read(opusTagsPacket({ vendor: '' })), 16);
  });

  it('refuses a wrong magic, strings or comment lists past the end, and oversized headers', () => {
    assert.equal(errorOf(() => read(Buffer.from('OpusHead\0\0\0\0\0\0\0\0'))).reason, 'tags_missing');
    assert.equal(errorOf(() => read(Buffer.from('OpusTa'))).reason, 'tags_missing');
    const tags = opusTagsPacket({ vendor: 'v', comments: ['A=1', 'B=2'] });
    const cut = errorOf(() => read(tags.subarray(0, tags.length - 1)));
    assert.deepEqual([cut.reason, cut.message], ['tags_invalid', `the OpusTags header ends after ${tags.length - 1} bytes, inside its comment list`]);
    assert.match(errorOf(() => read(tags.subarray(0, 12))).message, /ends after 12 bytes, inside its vendor string/);
    assert.match(errorOf(() => read(tags.subarray(0, 14))).message, /inside its comment list/);
    const lying = Buffer.from(tags);
    lying.writeUInt32LE(100_000, 8); // vendor length
    assert.equal(errorOf(() => read(lying)).reason, 'tags_too_large');
    const many = Buffer.from(tags);
    many.writeUInt32LE(20_000, 13); // comment count: 4 bytes each at least
    assert.equal(errorOf(() => read(many)).reason, 'tags_too_large');
    const big = opusTagsPacket({ padding: MAX_TAGS_PACKET });
    const err = errorOf(() => read(big, 300));
    assert.match(err.message, /exceeds 65536 bytes/);
    assert.equal(read(opusTagsPacket({ padding: MAX_TAGS_PACKET - 8 - 4 - 22 - 4 })), MAX_TAGS_PACKET);
  });
});
