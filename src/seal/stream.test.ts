// Round trips of the recording sealer and the whole-file helpers, with random sizes,
// random push splits and random ranges (fast-check).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  AgeDecryptor,
  CHUNK_SIZE,
  SealError,
  beginSeal,
  decryptFile,
  encryptFile,
  generateIdentity,
  openRecording,
  payloadSize,
  plaintextSize,
  recipientOf,
  resumeSeal,
  sealedBound,
} from './index.ts';
import { bytes } from './test-bytes.ts';

const C = CHUNK_SIZE;
const ENC = C + 16;
const { identity, recipient } = generateIdentity();


const sizeArb = fc.oneof(
  fc.constantFrom(0, 1, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, 3 * C, 6 * C),
  fc.integer({ min: 0, max: 400 * 1024 }),
);

/** Seals `plaintext` pushed in pieces cut at `cuts`; checks the emission rule on the way. */
function seal(plaintext: Buffer, cuts: number[], recordingId = 'rec-1') {
  const sealer = beginSeal({ recipient, recordingId });
  const points = [...new Set(cuts.map((c) => c % (plaintext.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const p of [...points, plaintext.length]) {
    chunks.push(...sealer.push(plaintext.subarray(at, p)));
    at = p;
    assert.equal(sealer.plaintextLength, at);
    // A chunk leaves the sealer only once more plaintext follows it.
    assert.equal(chunks.length, at === 0 ? 0 : Math.floor((at - 1) / C));
    for (const c of chunks) assert.equal(c.length, ENC);
  }
  chunks.push(sealer.finish());
  assert.throws(() => sealer.push(Buffer.from('x')), (e: unknown) => e instanceof SealError && e.code === 'bad-state');
  assert.throws(() => sealer.finish(), (e: unknown) => e instanceof SealError && e.code === 'bad-state');
  const payload = Buffer.concat([sealer.payloadPrefix, ...chunks]);
  sealer.destroy();
  return { header: sealer.header, payload, chunks };
}

function memoryReader(payload: Buffer) {
  const stats = { calls: 0, bytes: 0 };
  const read = async (offset: number, length: number) => {
    stats.calls += 1;
    stats.bytes += length;
    return payload.subarray(offset, offset + length);
  };
  return { read, stats };
}

async function readAll(gen: AsyncGenerator<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of gen) parts.push(part);
  return Buffer.concat(parts);
}

test('payloadSize and plaintextSize follow the STREAM layout and invert each other', () => {
  assert.equal(payloadSize(0), 16 + 16);
  assert.equal(payloadSize(1), 16 + 1 + 16);
  assert.equal(payloadSize(C), 16 + ENC);
  assert.equal(payloadSize(C + 1), 16 + ENC + 1 + 16);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (n) => {
      assert.equal(plaintextSize(payloadSize(n)), n);
    }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (p) => {
      let n: number;
      try {
        n = plaintextSize(p);
      } catch (err) {
        assert.ok(err instanceof SealError && err.code === 'truncated');
        return;
      }
      assert.equal(payloadSize(n), p);
    }),
  );
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
    assert.throws(() => payloadSize(bad), (e: unknown) => e instanceof SealError && e.code === 'bad-range');
  }
  for (const short of [0, 15, 31, 16 + ENC + 15, 16 + ENC + 16]) {
    assert.throws(() => plaintextSize(short), (e: unknown) => e instanceof SealError && e.code === 'truncated');
  }
});

test('sealed recordings round-trip for any size and any push split', async () => {
  await fc.assert(
    fc.asyncProperty(sizeArb, fc.array(fc.nat(), { maxLength: 8 }), fc.integer(), async (size, cuts, seed) => {
      const plaintext = bytes(size, seed);
      const { header, payload } = seal(plaintext, cuts);
      assert.equal(payload.length, payloadSize(size));
      assert.equal(plaintextSize(payload.length), size);
      // A standard age file: header + payload.
      assert.ok(decryptFile(Buffer.concat([header, payload]), { identities: [identity] }).equals(plaintext));
      const opened = openRecording({ header, identity, recordingId: 'rec-1' });
      assert.equal(opened.plaintextLength(payload.length), size);
      const { read } = memoryReader(payload);
      const all = await readAll(opened.readRange({ payloadSize: payload.length, start: 0, end: Number.MAX_SAFE_INTEGER, read }));
      assert.ok(all.equals(plaintext));
      // Incremental decryption with the same cut points applied to the file.
      const file = Buffer.concat([header, payload]);
      const decryptor = new AgeDecryptor({ identities: [identity], recordingId: 'rec-1' });
      const out: Buffer[] = [];
      let at = 0;
      for (const p of [...cuts.map((c) => c % (file.length + 1)).sort((a, b) => a - b), file.length]) {
        out.push(...decryptor.push(file.subarray(at, Math.max(at, p))));
        at = Math.max(at, p);
      }
      out.push(decryptor.finish());
      assert.ok(Buffer.concat(out).equals(plaintext));
    }),
    { numRuns: 150 },
  );
});

test('pushInto seals the same stream as push, contiguously, within sealedBound', async () => {
  await fc.assert(
    fc.asyncProperty(sizeArb, fc.array(fc.nat(), { maxLength: 8 }), fc.integer(), async (size, cuts, seed) => {
      const plaintext = bytes(size, seed);
      const sealer = beginSeal({ recipient, recordingId: 'rec-2' });
      const parts: Buffer[] = [sealer.payloadPrefix];
      let at = 0;
      for (const p of [...new Set(cuts.map((c) => c % (size + 1)))].sort((a, b) => a - b).concat(size)) {
        const piece = plaintext.subarray(at, p);
        const out = Buffer.alloc(sealedBound(piece.length) + 7, 0xee);
        const end = sealer.pushInto(piece, out, 7);
        assert.ok(out.subarray(0, 7).every((b) => b === 0xee), 'nothing written before pos');
        assert.equal((end - 7) % ENC, 0);
        parts.push(Buffer.from(out.subarray(7, end)));
        at = p;
      }
      parts.push(sealer.finish());
      const payload = Buffer.concat(parts);
      assert.equal(payload.length, payloadSize(size));
      const opened = openRecording({ header: sealer.header, identity, recordingId: 'rec-2' });
      const { read } = memoryReader(payload);
      assert.ok((await readAll(opened.readRange({ payloadSize: payload.length, start: 0, end: Infinity, read }))).equals(plaintext));
    }),
    { numRuns: 60 },
  );
  const sealer = beginSeal({ recipient, recordingId: 'rec-3' });
  assert.throws(() => sealer.pushInto(Buffer.alloc(3 * C), Buffer.alloc(3 * ENC), 0), (e: unknown) => e instanceof SealError && e.code === 'bad-range');
});

test('readRange returns exactly the slice and reads only the chunks it covers', async () => {
  const sizes = [0, 1, C - 1, C, C + 1, 3 * C, 5 * C + 123];
  const sealed = new Map(sizes.map((n) => [n, seal(bytes(n, n + 7), [])]));
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...sizes), fc.nat(), fc.nat(), fc.nat({ max: 6 * C }), async (size, a, b, overshoot) => {
      const plaintext = bytes(size, size + 7);
      const { header, payload } = sealed.get(size)!;
      const start = a % (size + 1);
      const end = start + (b % (size + 1 - start)) + (overshoot % 3 === 0 ? overshoot : 0);
      const opened = openRecording({ header, identity, recordingId: 'rec-1' });
      const { read, stats } = memoryReader(payload);
      const got = await readAll(opened.readRange({ payloadSize: payload.length, start, end, read }));
      const stop = Math.min(end, size);
      assert.ok(got.equals(plaintext.subarray(start, stop)));
      const finalIndex = Math.max(0, Math.ceil(size / C) - 1);
      const finalLength = payload.length - 16 - finalIndex * ENC;
      if (start === end) {
        assert.equal(stats.bytes, 0); // an empty request reads nothing
        return;
      }
      if (start >= size) {
        assert.equal(stats.bytes, 16 + finalLength); // past the end: only the final chunk is verified
        return;
      }
      const first = Math.floor(start / C);
      const last = Math.floor((stop - 1) / C);
      const lastLength = last === finalIndex ? finalLength : ENC;
      assert.equal(stats.bytes, 16 + (last - first) * ENC + lastLength);
      assert.ok(stats.calls <= 1 + Math.ceil((last - first + 1) / 16) + (first === 0 ? 0 : 1));
    }),
    { numRuns: 200 },
  );
});

test('readRange rejects inconsistent ranges and short storage reads', async () => {
  const { header, payload } = seal(bytes(3 * C, 1), []);
  const opened = openRecording({ header, identity, recordingId: 'rec-1' });
  const { read } = memoryReader(payload);
  for (const [start, end] of [[-1, 5], [5, 4], [0.5, 9], [0, Number.NaN], [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY]] as const) {
    await assert.rejects(readAll(opened.readRange({ payloadSize: payload.length, start, end, read })), (e: unknown) => e instanceof SealError && e.code === 'bad-range');
  }
  const short = async (offset: number, length: number) => payload.subarray(offset, offset + length - 1);
  await assert.rejects(readAll(opened.readRange({ payloadSize: payload.length, start: 0, end: 10, read: short })), (e: unknown) => e instanceof SealError && e.code === 'truncated');
  opened.destroy();
  await assert.rejects(readAll(opened.readRange({ payloadSize: payload.length, start: C, end: C + 10, read })), (e: unknown) => e instanceof SealError && e.code === 'bad-state');
});

test('encryptFile/decryptFile round-trip with recipients, armor and passphrases', () => {
  const other = generateIdentity();
  assert.equal(recipientOf(other.identity), other.recipient);
  fc.assert(
    fc.property(sizeArb, fc.boolean(), fc.integer(), (size, armor, seed) => {
      const plaintext = bytes(size, seed);
      const file = encryptFile(plaintext, { recipients: [other.recipient, recipient], armor });
      assert.equal(file.subarray(0, 10).toString('latin1'), armor ? '-----BEGIN' : 'age-encryp');
      assert.ok(decryptFile(file, { identities: [identity] }).equals(plaintext));
      assert.ok(decryptFile(file, { identities: [generateIdentity().identity, other.identity] }).equals(plaintext));
      assert.throws(() => decryptFile(file, { identities: [generateIdentity().identity] }), (e: unknown) => e instanceof SealError && e.code === 'no-identity-matched');
    }),
    { numRuns: 25 },
  );
  const secret = bytes(1000, 3);
  const locked = encryptFile(secret, { passphrase: 'correct horse battery staple', armor: true, scryptWorkFactor: 10 });
  assert.ok(decryptFile(locked, { passphrase: 'correct horse battery staple' }).equals(secret));
  assert.throws(() => decryptFile(locked, { passphrase: 'wrong' }), (e: unknown) => e instanceof SealError && e.code === 'no-identity-matched');
  assert.throws(() => decryptFile(locked, { identities: [identity] }), (e: unknown) => e instanceof SealError && e.code === 'no-identity-matched');
  assert.throws(() => encryptFile(secret, { passphrase: 'x', recipients: [recipient] }), (e: unknown) => e instanceof SealError && e.code === 'bad-options');
  assert.throws(() => encryptFile(secret, {}), (e: unknown) => e instanceof SealError && e.code === 'bad-options');
  assert.throws(() => encryptFile(secret, { passphrase: 'x', scryptWorkFactor: 23 }), (e: unknown) => e instanceof SealError && e.code === 'bad-options');
});

test('resumeSeal continues a stream from stored chunks and a pending tail, as if never interrupted', async () => {
  await fc.assert(
    fc.asyncProperty(sizeArb, fc.nat(), fc.integer(), async (size, cutAt, seed) => {
      const plaintext = bytes(size, seed);
      const cut = size === 0 ? 0 : cutAt % (size + 1);
      const first = beginSeal({ recipient, recordingId: 'rec-4' });
      const stored = first.push(plaintext.subarray(0, cut));
      // The crash: the sealer is gone; what is known is the stored chunks and the tail after them.
      const chunks = stored.length;
      const pending = plaintext.subarray(chunks * C, cut);
      first.destroy();
      const resumed = resumeSeal({ header: first.header, identity, recordingId: 'rec-4', payloadPrefix: first.payloadPrefix, chunks, pending });
      assert.equal(resumed.plaintextLength, cut);
      const rest = [...resumed.push(plaintext.subarray(cut)), resumed.finish()];
      const payload = Buffer.concat([first.payloadPrefix, ...stored, ...rest]);
      const opened = openRecording({ header: first.header, identity, recordingId: 'rec-4' });
      const { read } = memoryReader(payload);
      assert.ok((await readAll(opened.readRange({ payloadSize: payload.length, start: 0, end: Infinity, read }))).equals(plaintext));
    }),
    { numRuns: 60 },
  );
  const s = beginSeal({ recipient, recordingId: 'rec-5' });
  assert.throws(() => resumeSeal({ header: s.header, identity, recordingId: 'rec-6', payloadPrefix: s.payloadPrefix, chunks: 0, pending: Buffer.alloc(0) }),
    (e: unknown) => e instanceof SealError && e.code === 'bound-to-other-recording');
  assert.throws(() => resumeSeal({ header: s.header, identity: generateIdentity().identity, recordingId: 'rec-5', payloadPrefix: s.payloadPrefix, chunks: 0, pending: Buffer.alloc(0) }),
    (e: unknown) => e instanceof SealError && e.code === 'no-identity-matched');
  assert.throws(() => resumeSeal({ header: s.header, identity, recordingId: 'rec-5', payloadPrefix: s.payloadPrefix, chunks: 0, pending: Buffer.alloc(C + 1) }),
    (e: unknown) => e instanceof SealError && e.code === 'bad-range');
});
