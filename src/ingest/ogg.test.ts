// Streaming validation of Ogg Opus: framing, headers, granules, ends, splits, memory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { AudioError } from './audio-error.ts';
import type { AudioInfo } from './audio.ts';
import { MAX_PAGE_BYTES } from './ogg.ts';
import { OggWriter, makeOggOpus, noiseBytes, oggPage, opusHeadPacket, opusPacket, opusTagsPacket, type OggPageSpec, type OpusFrameMs } from './ogg-make.ts';
import { OggOpusInspector } from './ogg-opus.ts';
import { PACKET_PREFIX } from './ogg-opus-packets.ts';
import { errorOf, failsAtByte } from './test-audio.ts';

const SECRET = 'PNR 19121212-1212 caller +46701234567';
const noise = noiseBytes(42);
/** A code-0 packet of one 20 ms CELT frame (960 samples). */
const pkt = (payload = 40, channels: 1 | 2 = 1) => opusPacket({ frameMs: 20, channels, payload, noise });

const HEAD: OggPageSpec = { packets: [opusHeadPacket({ channels: 1, preSkip: 312 })], granule: 0, bos: true };
const TAGS: OggPageSpec = { packets: [opusTagsPacket({ comments: [`CALLER=${SECRET}`] })], granule: 0 };

/** Pages of one stream, numbered in order; head and tags pages first unless given. */
function stream(audio: OggPageSpec[], head: OggPageSpec[] = [HEAD, TAGS], serial?: number): Buffer {
  const w = new OggWriter({ serial });
  return Buffer.concat([...head, ...audio].map((p) => w.page(p)));
}

/** Audio pages of n 20 ms packets each, with correct granules from `from`, the last one EOS. */
function audioPages(counts: number[], from = 0, eos = true): OggPageSpec[] {
  let granule = from;
  return counts.map((n, k) => {
    granule += n * 960;
    return { packets: Array.from({ length: n }, () => pkt()), granule, eos: eos && k === counts.length - 1 };
  });
}


function feedAll(bytes: Uint8Array, cuts: number[] = []): OggOpusInspector {
  const insp = new OggOpusInspector();
  let prev = 0;
  for (const cut of [...cuts, bytes.length]) {
    insp.feed(bytes.subarray(prev, cut));
    prev = cut;
  }
  return insp;
}

const inspect = (bytes: Uint8Array, cuts?: number[]) => feedAll(bytes, cuts).finish();

function rejects(bytes: Uint8Array, reason: string, message: RegExp, status: 400 | 415 = 400): AudioError {
  const err = errorOf(() => inspect(bytes));
  assert.equal(err.reason, reason, err.message);
  assert.match(err.message, message);
  assert.equal(err.status, status);
  assert.ok(!err.message.includes('19121212') && !err.message.includes('PNR'));
  return err;
}

const oggFailsAtByte = (bytes: Uint8Array): number => failsAtByte(new OggOpusInspector(), bytes);

type Outcome = { ok: AudioInfo } | { reason: string; message: string };
function outcome(fn: () => AudioInfo): Outcome {
  try {
    return { ok: { ...fn() } };
  } catch (err) {
    if (!(err instanceof AudioError)) throw err;
    return { reason: err.reason, message: err.message };
  }
}

/** Page boundaries and granules, read by a walker independent of the code under test. */
function pagesOf(b: Buffer): Array<{ end: number; granule: bigint; completes: boolean }> {
  const out = [];
  for (let at = 0; at < b.length;) {
    const n = b[at + 26]!;
    const lacing = [...b.subarray(at + 27, at + 27 + n)];
    at += 27 + n + lacing.reduce((s, v) => s + v, 0);
    out.push({ end: at, granule: b.readBigInt64LE(at - (27 + n + lacing.reduce((s, v) => s + v, 0)) + 6), completes: lacing.some((v) => v < 255) });
  }
  return out;
}

const info = (channels: 1 | 2, durationMs: number): AudioInfo => ({ codec: 'opus', container: 'ogg', sampleRate: 48000, channels, durationMs });

// ---------------------------------------------------------------------------------------------

describe('makeOggOpus', () => {
  it('lays out numbered pages with valid CRCs, 19-byte OpusHead, OpusTags, then 1 s audio pages', () => {
    const s = makeOggOpus({ channels: 2, seconds: 2.5, preSkip: 500 });
    const pages = pagesOf(s);
    assert.equal(pages.at(-1)!.end, s.length);
    assert.equal(pages.length, 2 + 3);
    assert.deepEqual(pages.map((p) => p.granule), [0n, 0n, 48000n, 96000n, 500n + 120000n]);
    assert.equal(s.subarray(28, 36).toString('latin1'), 'OpusHead');
    assert.equal(s[27], 19);
    assert.equal(s.readUInt16LE(28 + 10), 500);
    assert.deepEqual([s[5], s[(pages[3]!.end) + 5]], [0x02, 0x04]); // BOS first, EOS last
  });

  it('gives the requested duration for every frame size, mono and stereo', () => {
    for (const frameMs of [2.5, 5, 10, 20, 40, 60] as OpusFrameMs[]) {
      for (const channels of [1, 2] as const) {
        const s = makeOggOpus({ channels, seconds: 1.37, frameMs, preSkip: 120 });
        assert.deepEqual({ ...inspect(s) }, info(channels, 1370), `${frameMs} ms`);
      }
    }
  });

  it('without eos: a live prefix whose last granule counts every decoded sample', () => {
    const s = makeOggOpus({ channels: 1, seconds: 1, eos: false, preSkip: 312 });
    const expected = Math.round((Math.ceil((312 + 48000) / 960) * 960 - 312) / 48);
    assert.equal(rejects(s, 'eos_missing', /no end-of-stream page/).status, 400);
    assert.deepEqual({ ...feedAll(s).finishTruncated() }, info(1, expected));
  });

  it('refuses nonsense options', () => {
    assert.throws(() => makeOggOpus({ channels: 1, seconds: 0 }), RangeError);
    assert.throws(() => makeOggOpus({ channels: 3 as 1, seconds: 1 }), RangeError);
    assert.throws(() => makeOggOpus({ channels: 1, seconds: 1, preSkip: 70000 }), RangeError);
    assert.throws(() => makeOggOpus({ channels: 1, seconds: 1, frameMs: 30 as 20 }), RangeError);
  });
});

describe('valid streams', () => {
  it('reports format once OpusTags is complete, and the OpusHead fields', () => {
    const s = stream(audioPages([3]));
    const insp = new OggOpusInspector();
    const tagsEnd = pagesOf(s)[1]!.end;
    insp.feed(s.subarray(0, tagsEnd - 1));
    assert.equal(insp.format, null);
    assert.equal(insp.opusHead?.preSkip, 312);
    insp.feed(s.subarray(tagsEnd - 1, tagsEnd));
    assert.deepEqual(insp.format, { codec: 'opus', container: 'ogg', sampleRate: 48000, channels: 1 });
    insp.feed(s.subarray(tagsEnd));
    assert.equal(insp.bytesSeen, s.length);
    assert.deepEqual({ ...insp.finish() }, info(1, Math.round((3 * 960 - 312) / 48)));
    assert.equal(insp.finish().durationMs, 54);
    assert.throws(() => insp.feed(new Uint8Array(1)), /after finish/);
  });

  it('OpusTags spanning three pages, audio packets spanning pages, empty pages', () => {
    const tags = opusTagsPacket({ vendor: 'x', comments: [SECRET.repeat(20)] }); // ~ 780 bytes
    const big = opusPacket({ frameMs: 20, channels: 1, payload: 1274, noise }); // 1275 bytes: 5 x 255
    const s = stream([
      { packets: [pkt(), big.subarray(0, 510)], granule: 960, open: true },
      { packets: [], granule: -1 },
      { packets: [big.subarray(510, 1020)], granule: -1, continued: true, open: true },
      { packets: [big.subarray(1020), pkt()], granule: 3 * 960, continued: true, eos: true },
    ], [HEAD,
      { packets: [tags.subarray(0, 255)], granule: -1, open: true },
      { packets: [tags.subarray(255, 510)], granule: -1, continued: true, open: true },
      { packets: [tags.subarray(510)], granule: 0, continued: true }]);
    assert.deepEqual({ ...inspect(s) }, info(1, 54));
  });

  it('a stream joined mid-way: first audio page continues a packet and starts at a later granule', () => {
    const s = stream([
      { packets: [new Uint8Array(77), pkt(), pkt()], granule: 480_000 + 2 * 960, continued: true },
      { packets: [pkt()], granule: 480_000 + 3 * 960, eos: true },
    ]);
    assert.deepEqual({ ...inspect(s) }, info(1, Math.round((3 * 960 - 312) / 48)));
  });

  it('tolerates a forward granule jump (an unfilled network gap) and counts it', () => {
    const s = stream([{ packets: [pkt()], granule: 960 }, { packets: [pkt()], granule: 960 + 48_000 + 960, eos: true }]);
    assert.equal(inspect(s).durationMs, Math.round((2 * 960 + 48_000 - 312) / 48));
  });

  it('end trimming on the last page, also when it is the first audio page', () => {
    assert.equal(inspect(stream([{ packets: [pkt(), pkt()], granule: 1000, eos: true }])).durationMs, Math.round((1000 - 312) / 48));
    // A first (and last) page whose granule exceeds its samples starts later: 2000 - 1920 = 80 (RFC 7845 section 4.5).
    assert.equal(inspect(stream(audioPages([2]).map((p) => ({ ...p, granule: 2000 })))).durationMs, Math.round((1920 - 312) / 48));
  });

  it('ignores the granule of a page on which no packet completes', () => {
    const big = opusPacket({ frameMs: 20, channels: 1, payload: 509, noise });
    const s = stream([
      { packets: [big.subarray(0, 255)], granule: 123_456_789, open: true },
      { packets: [big.subarray(255)], granule: 960, continued: true, eos: true },
    ]);
    assert.equal(inspect(s).durationMs, 14);
  });
});

// ---------------------------------------------------------------------------------------------

describe('invalid Ogg framing', () => {
  const good = () => makeOggOpus({ channels: 1, seconds: 2 });

  it('garbage, a WAV file, an HTML page: not Ogg, at the first wrong byte', () => {
    assert.equal(oggFailsAtByte(Buffer.from('<html>')), 1);
    assert.equal(oggFailsAtByte(Buffer.from('RIFF\x24\x00\x00\x00WAVE')), 1);
    assert.equal(oggFailsAtByte(Buffer.from('OggX')), 4);
    rejects(Buffer.from('Ogg'), 'truncated', /inside an Ogg page, at byte 3/);
    rejects(new Uint8Array(0), 'truncated', /at byte 0, before its Opus headers/);
  });

  it('version, undefined flags, missing BOS: at the byte that carries them', () => {
    const v = Buffer.from(good());
    v[4] = 1;
    assert.equal(rejects(v, 'ogg_version_unsupported', /version 1, only 0 exists/, 415).status, 415);
    assert.equal(oggFailsAtByte(v), 5);
    const f = Buffer.from(good());
    f[5] |= 0x10;
    rejects(f, 'page_flags_invalid', /undefined header flags/);
    assert.equal(oggFailsAtByte(f), 6);
    const noBos = Buffer.from(good());
    noBos[5] = 0;
    rejects(noBos, 'bos_missing', /not marked as the beginning/);
  });

  it('a corrupted byte anywhere in a page: CRC mismatch when that page completes', () => {
    const s = good();
    const pages = pagesOf(s);
    const bad = Buffer.from(s);
    bad[pages[2]!.end + 100] ^= 0x20; // a byte of the fourth page's audio
    rejects(bad, 'crc_mismatch', new RegExp(`page at byte ${pages[2]!.end} fails its CRC`));
    assert.equal(oggFailsAtByte(bad), pages[3]!.end);
  });

  it('a missing page, a second stream, a second BOS, a page after EOS', () => {
    const pages = [HEAD, TAGS, ...audioPages([2, 2, 2])];
    const w = new OggWriter();
    const bytes = pages.map((p) => w.page(p));
    rejects(Buffer.concat([...bytes.slice(0, 3), ...bytes.slice(4)]), 'sequence_gap', /sequence number 4, expected 3/);
    const other = new OggWriter({ serial: 7, sequence: 3 }).page(audioPages([1])[0]!);
    rejects(Buffer.concat([...bytes.slice(0, 3), other]), 'multiple_streams', /another logical stream/, 415);
    const chained = stream(audioPages([1]), [HEAD, TAGS], 99);
    rejects(Buffer.concat([bytes[0]!, bytes[1]!, bytes[2]!, chained]), 'multiple_streams', /second logical stream begins/, 415);
    const s = good();
    assert.equal(oggFailsAtByte(Buffer.concat([s, Buffer.from('x')])), s.length + 1);
    rejects(Buffer.concat([s, s]), 'data_after_eos', new RegExp(`from byte ${s.length}`));
  });

  it('granule positions that are negative (other than -1) or beyond 2^53', () => {
    rejects(stream([{ packets: [pkt()], granule: -2, eos: true }]), 'granule_invalid', /negative or beyond/);
    rejects(stream([{ packets: [pkt()], granule: 2n ** 60n, eos: true }]), 'granule_invalid', /beyond 2\^53/);
  });

  it('continued flags that do not match the page before', () => {
    rejects(stream([...audioPages([1], 0, false), { packets: [pkt()], granule: 1920, continued: true, eos: true }]),
      'continuation_mismatch', /page 3 continues a packet, but the page before ended its packets/);
    const big = opusPacket({ frameMs: 20, channels: 1, payload: 300, noise });
    rejects(stream([{ packets: [big.subarray(0, 255)], granule: -1, open: true }, { packets: [big.subarray(255)], granule: 960, eos: true }]),
      'continuation_mismatch', /page 3 does not continue the packet left open/);
    rejects(stream([], [{ ...HEAD, continued: true }]), 'continuation_mismatch', /first Ogg page claims to continue/);
    rejects(stream([], [HEAD, { ...TAGS, continued: true }]), 'continuation_mismatch', /page 1 continues a packet/);
  });
});

describe('invalid Opus headers', () => {
  it('a Vorbis stream (415), an unknown codec (400), multichannel (415)', () => {
    const vorbis = stream([], [{ packets: [Buffer.from('\x01vorbis\x00\x00\x00\x00\x02\x44\xac\x00\x00', 'latin1')], granule: 0, bos: true }]);
    rejects(vorbis, 'unsupported_codec', /holds Vorbis audio, not Opus/, 415);
    rejects(stream([], [{ packets: [Buffer.from(SECRET)], granule: 0, bos: true }]), 'not_opus', /not an OpusHead header/);
    rejects(stream([], [{ packets: [opusHeadPacket({ channels: 6, family: 1 })], granule: 0, bos: true }]), 'unsupported_channel_mapping', /family 1 \(multichannel\)/, 415);
    rejects(stream([], [{ packets: [opusHeadPacket({ channels: 3 })], granule: 0, bos: true }]), 'opus_head_invalid', /3 channels/);
  });

  it('OpusHead not alone on its page, not complete on it, with a granule, or the stream ending there', () => {
    rejects(stream([], [{ ...HEAD, packets: [...HEAD.packets, pkt()] }]), 'head_not_alone', /hold the OpusHead packet alone/);
    const long = opusHeadPacket({ channels: 1, version: 2, extra: new Uint8Array(236) }); // 255 bytes
    rejects(stream([], [{ packets: [long], granule: 0, bos: true, open: true }]), 'head_not_alone', /does not end on the first Ogg page/);
    rejects(stream([], [{ ...HEAD, granule: 5 }]), 'granule_invalid', /OpusHead page must have granule position 0/);
    rejects(stream([], [{ ...HEAD, eos: true }]), 'tags_missing', /ends after its OpusHead page/);
    rejects(stream([], [{ packets: [], granule: 0, bos: true }]), 'not_opus', /not an OpusHead/);
  });

  it('OpusTags missing, malformed, too large, not ending its page, with a granule', () => {
    rejects(stream(audioPages([1]), [HEAD]), 'tags_missing', /second Ogg packet is not an OpusTags/);
    const cut = opusTagsPacket({ comments: [SECRET] }).subarray(0, 36);
    rejects(stream([], [HEAD, { packets: [cut], granule: 0 }]), 'tags_invalid', /ends after 36 bytes, inside its comment list/);
    rejects(stream([], [HEAD, { ...TAGS, packets: [...TAGS.packets, pkt()] }]), 'tags_not_alone', /does not end its Ogg page \(page 1\)/);
    rejects(stream(audioPages([1]), [HEAD, { ...TAGS, granule: 960 }]), 'granule_invalid', /OpusTags ends must have granule position 0/);
    // 70,000 bytes of tags over 275 pages: refused as soon as the 64 KiB are exceeded, not at the end
    const huge = opusTagsPacket({ padding: 70_000 });
    const specs: OggPageSpec[] = [];
    for (let at = 0; at < huge.length; at += 255) {
      const piece = huge.subarray(at, Math.min(at + 255, huge.length));
      specs.push({ packets: [piece], granule: piece.length === 255 ? -1 : 0, continued: at > 0, open: piece.length === 255 });
    }
    const s = stream(audioPages([1]), [HEAD, ...specs]);
    rejects(s, 'tags_too_large', /exceeds 65536 bytes/);
    // 255 bytes of tags per page: the 258th tags page (page 258 of the stream) passes 65,536
    assert.equal(oggFailsAtByte(s), pagesOf(s)[258]!.end);
  });
});

describe('invalid audio and granules', () => {
  it('an empty or malformed audio packet, a packet over 61,440 bytes', () => {
    rejects(stream([{ packets: [pkt(), new Uint8Array(0)], granule: 960, eos: true }]), 'opus_packet_invalid', /audio packet 2 \(page 2\) is not a valid Opus packet: it is empty/);
    rejects(stream([{ packets: [Uint8Array.of((31 << 3) | 1, 1, 2, 3)], granule: 1920, eos: true }]), 'opus_packet_invalid', /two equal frames cannot share 3 bytes/);
    const specs: OggPageSpec[] = [];
    const piece = new Uint8Array(255 * 100).fill(0x44);
    for (let k = 0; k < 4; k++) specs.push({ packets: [piece], granule: -1, continued: k > 0, open: true });
    rejects(stream(specs), 'packet_too_large', /audio packet 1 \(page 4\) exceeds 61440 bytes/);
  });

  it('a page completing packets without a granule, granules going backwards, a first granule too small', () => {
    rejects(stream([{ packets: [pkt()], granule: -1, eos: true }]), 'granule_missing', /page 2 completes packets but has no granule/);
    rejects(stream([{ packets: [pkt()], granule: 5000 }, { packets: [pkt()], granule: 4999, eos: true }]), 'granule_backwards', /page 3: 4999 after 5000/);
    rejects(stream([{ packets: [pkt(), pkt()], granule: 1919 }, ...audioPages([1], 1919)]), 'granule_invalid', /granule position 1919, less than the 1920 samples/);
  });

  it('an EOS page leaving a packet open; a last granule below the pre-skip', () => {
    const open = new Uint8Array(255).fill(0x44);
    rejects(stream([{ packets: [pkt(), open], granule: 960, open: true, eos: true }]), 'eos_packet_incomplete', /page 2\) leaves its last packet unfinished/);
    const short = stream([{ packets: [pkt()], granule: 300, eos: true }]);
    rejects(short, 'granule_invalid', /final granule position 300 leaves less audio than the pre-skip of 312/);
    assert.equal(feedAll(short).finishTruncated().durationMs, 0);
  });

  it('no audio at all: finish refuses, finishTruncated reports 0 ms', () => {
    const s = stream([], [HEAD, { ...TAGS, eos: true }]);
    rejects(s, 'no_audio', /no audio packets/);
    assert.deepEqual({ ...feedAll(s).finishTruncated() }, info(1, 0));
  });

  it('errors are sticky; a failed finish() still allows finishTruncated()', () => {
    const insp = new OggOpusInspector();
    const first = errorOf(() => insp.feed(Buffer.from('OggS\x01')));
    assert.equal(errorOf(() => insp.feed(makeOggOpus({ channels: 1, seconds: 1 }))), first);
    assert.equal(errorOf(() => insp.finishTruncated()), first);
    const live = feedAll(makeOggOpus({ channels: 2, seconds: 3, eos: false }));
    assert.equal(errorOf(() => live.finish()).reason, 'eos_missing');
    assert.equal(live.finishTruncated().channels, 2);
  });
});

// ---------------------------------------------------------------------------------------------

const streamArb = fc.record({
  channels: fc.constantFrom(1 as const, 2 as const),
  seconds: fc.integer({ min: 1, max: 60 }).map((n) => n / 10),
  frameMs: fc.constantFrom<OpusFrameMs>(2.5, 5, 10, 20, 40, 60),
  preSkip: fc.integer({ min: 0, max: 5000 }),
  eos: fc.boolean(),
});

describe('splits and truncation', () => {
  it('any valid stream gives the same outcome whole and in random splits (property)', () => {
    fc.assert(fc.property(streamArb, fc.array(fc.nat(), { maxLength: 12 }), (opts, rawCuts) => {
      const s = makeOggOpus(opts);
      const cuts = rawCuts.map((c) => c % (s.length + 1)).sort((a, b) => a - b);
      const whole = outcome(() => inspect(s));
      assert.deepEqual(outcome(() => inspect(s, cuts)), whole);
      if (opts.eos) assert.deepEqual(whole, { ok: info(opts.channels, Math.round(opts.seconds * 1000)) });
      else assert.equal('reason' in whole && whole.reason, 'eos_missing');
    }), { numRuns: 150 });
  });

  it('one byte at a time', () => {
    const s = makeOggOpus({ channels: 2, seconds: 1.5, frameMs: 10 });
    assert.deepEqual({ ...inspect(s, Array.from({ length: s.length }, (_, i) => i)) }, info(2, 1500));
  });

  it('a cut anywhere: finishTruncated reports the last complete page, or truncated before the headers (property)', () => {
    fc.assert(fc.property(streamArb, fc.nat(), fc.array(fc.nat(), { maxLength: 5 }), (opts, rawCut, rawCuts) => {
      const s = makeOggOpus(opts);
      const cut = rawCut % (s.length + 1);
      const prefix = s.subarray(0, cut);
      const cuts = rawCuts.map((c) => c % (cut + 1)).sort((a, b) => a - b);
      const pages = pagesOf(s).filter((p) => p.end <= cut);
      const got = outcome(() => feedAll(prefix, cuts).finishTruncated());
      if (pages.length < 2) {
        assert.equal('reason' in got && got.reason, 'truncated');
      } else {
        const last = pages.length > 2 ? Number(pages.at(-1)!.granule) : opts.preSkip;
        assert.deepEqual(got, { ok: info(opts.channels, Math.round(Math.max(0, last - opts.preSkip) / 48)) });
      }
      if (cut < s.length) assert.equal('reason' in outcome(() => feedAll(prefix).finish()), true);
    }), { numRuns: 300 });
  });
});

describe('robustness', () => {
  it('random garbage never throws anything but AudioError, whatever the split (property)', () => {
    const prefix = fc.constantFrom(new Uint8Array(0), Buffer.from('OggS'), Buffer.from('OggS\x00\x02', 'latin1'), makeOggOpus({ channels: 1, seconds: 0.1 }).subarray(0, 47));
    fc.assert(fc.property(prefix, fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 8 }), (p, tail, rawCuts) => {
      const bytes = Buffer.concat([p, tail]);
      const cuts = rawCuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b);
      assert.deepEqual(outcome(() => inspect(bytes, cuts)), outcome(() => inspect(bytes)));
      assert.deepEqual(outcome(() => feedAll(bytes, cuts).finishTruncated()), outcome(() => feedAll(bytes).finishTruncated()));
    }), { numRuns: 1000 });
  });

  it('mutated valid streams: split-invariant verdicts, AudioError only, nothing from the stream in messages (property)', () => {
    const valid = stream(audioPages([5, 5, 5]), [HEAD, TAGS]);
    const mutation = fc.record({
      writes: fc.array(fc.record({ at: fc.nat(valid.length - 1), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }),
      keep: fc.option(fc.nat(valid.length)),
      fixCrc: fc.boolean(),
    });
    let rejected = 0;
    fc.assert(fc.property(mutation, fc.array(fc.nat(), { maxLength: 6 }), (m, rawCuts) => {
      const bytes = Buffer.from(valid);
      for (const w of m.writes) bytes[w.at] = w.value;
      if (m.fixCrc) resealPages(bytes); // so that mutations reach the Opus layer, not only the CRC
      const mutated = bytes.subarray(0, m.keep ?? bytes.length);
      const cuts = rawCuts.map((c) => c % (mutated.length + 1)).sort((a, b) => a - b);
      const whole = outcome(() => inspect(mutated));
      assert.deepEqual(outcome(() => inspect(mutated, cuts)), whole);
      if ('reason' in whole) {
        rejected++;
        assert.match(whole.message, /^[a-zA-Z0-9 .,;:()^'\-_]*$/);
        assert.ok(!whole.message.includes('19121212') && !whole.message.includes('PNR'));
      }
    }), { numRuns: 600 });
    assert.ok(rejected > 100, `only ${rejected} mutations were rejected`);
  });
});

/** Recomputes the CRC of every whole page in place (pages as laid out, lengths as found). */
function resealPages(b: Buffer): void {
  for (let at = 0; at + 27 <= b.length;) {
    const n = b[at + 26]!;
    if (at + 27 + n > b.length) return;
    let end = at + 27 + n;
    for (let k = 0; k < n; k++) end += b[at + 27 + k]!;
    if (end > b.length || b.toString('latin1', at, at + 4) !== 'OggS') return;
    const page = oggPage({ flags: b[at + 5]!, granule: b.readBigUInt64LE(at + 6), serial: b.readUInt32LE(at + 14), sequence: b.readUInt32LE(at + 18), lacing: [...b.subarray(at + 27, at + 27 + n)], body: b.subarray(at + 27 + n, end) });
    b.writeUInt32LE(page.readUInt32LE(22), at + 22);
    at = end;
  }
}

describe('memory', () => {
  it('50 MB of large pages pass through holding at most one page and a packet prefix', () => {
    const w = new OggWriter();
    const insp = new OggOpusInspector();
    let max = 0;
    const feed = (b: Uint8Array, step: number) => {
      for (let i = 0; i < b.length; i += step) {
        insp.feed(b.subarray(i, i + step));
        max = Math.max(max, insp.bufferedBytes);
      }
    };
    feed(w.page(HEAD), 7);
    feed(w.page(TAGS), 7);
    // 42 packets of one 1275-byte frame: 6 lacing values each, pages of about 53.6 KB
    const packets = Array.from({ length: 42 }, () => opusPacket({ frameMs: 20, channels: 2, payload: 1275, noise }));
    let granule = 0;
    let sent = 0;
    while (sent < 50 * 1024 * 1024) {
      granule += 42 * 960;
      const page = w.page({ packets, granule });
      feed(page, 10_000);
      sent += page.length;
    }
    const big = opusPacket({ frameMs: 20, channels: 2, payload: 1275, noise }); // one packet spanning pages
    feed(w.page({ packets: [big.subarray(0, 1020)], granule: -1, open: true }), 100);
    assert.ok(insp.bufferedBytes > 0 && insp.bufferedBytes <= PACKET_PREFIX, `${insp.bufferedBytes} held between pages`);
    feed(w.page({ packets: [big.subarray(1020)], granule: granule + 960, continued: true, eos: true }), 100);
    assert.ok(max >= 50_000 && max <= MAX_PAGE_BYTES + PACKET_PREFIX, `buffered ${max}`);
    assert.equal(insp.bufferedBytes, 0);
    assert.equal(insp.finish().durationMs, Math.round((granule + 960 - 312) / 48));
  });
});

// ---------------------------------------------------------------------------------------------

const ffmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;

describe('interoperability', () => {
  it('a real Opus file encoded by ffmpeg (libopus), whole and cut short', () => {
    assert.ok(ffmpeg, 'ffmpeg is needed for this check (Debian package "ffmpeg"; npm test installs it)');
    for (const channels of [1, 2] as const) {
      const ogg = execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000:duration=2.5',
        '-ac', String(channels), '-c:a', 'libopus', '-b:a', '24k', '-f', 'ogg', 'pipe:1'], { maxBuffer: 16 << 20 });
      assert.deepEqual({ ...inspect(ogg, [100, 101, 5000]) }, info(channels, 2500));
      const cut = feedAll(ogg.subarray(0, Math.floor(ogg.length / 2))).finishTruncated();
      assert.ok(cut.durationMs > 500 && cut.durationMs < 2000, `${cut.durationMs} ms`);
    }
  });
});
