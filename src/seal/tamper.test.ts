// Tampering with a sealed recording is always detected, and readRange never releases a
// byte of a chunk that failed: whatever it yielded before the error must be exactly the
// true plaintext of the chunks that verified.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AgeDecryptor, CHUNK_SIZE, SealError, beginSeal, decryptFile, generateIdentity, openRecording } from './index.ts';
import type { OpenedRecording } from './index.ts';
import { bytes } from './test-bytes.ts';

const C = CHUNK_SIZE;
const ENC = C + 16;
const { identity, recipient } = generateIdentity();
const ID = 'rec_A-1';


function seal(plaintext: Buffer, recordingId = ID) {
  const sealer = beginSeal({ recipient, recordingId });
  const chunks = [...sealer.push(plaintext), sealer.finish()];
  return { header: sealer.header, nonce: sealer.payloadPrefix, chunks, payload: Buffer.concat([sealer.payloadPrefix, ...chunks]) };
}

interface Outcome {
  yielded: Buffer;
  error: unknown;
}

async function attempt(opened: OpenedRecording, payload: Buffer, start: number, end: number): Promise<Outcome> {
  const parts: Buffer[] = [];
  const read = async (offset: number, length: number) => payload.subarray(offset, offset + length);
  try {
    for await (const part of opened.readRange({ payloadSize: payload.length, start, end, read })) parts.push(Buffer.from(part));
    return { yielded: Buffer.concat(parts), error: null };
  } catch (error) {
    return { yielded: Buffer.concat(parts), error };
  }
}

function isSealError(err: unknown, codes: readonly string[]): boolean {
  return err instanceof SealError && codes.includes(err.code);
}

/**
 * What was yielded is the true plaintext from `start`; a read that failed stopped on a
 * chunk boundary (no byte of the failing chunk), a read that succeeded reached `end`.
 */
function assertVerifiedPrefix(out: Outcome, plaintext: Buffer, start: number, end: number) {
  assert.ok(out.yielded.equals(plaintext.subarray(start, start + out.yielded.length)), 'yielded bytes differ from the plaintext');
  const stop = start + out.yielded.length;
  if (out.error === null) assert.equal(stop, Math.min(end, plaintext.length));
  else assert.ok(out.yielded.length === 0 || stop % C === 0, 'yielded bytes end inside a chunk');
}

const sizeArb = fc.oneof(fc.constantFrom(1, C - 1, C, C + 1, 2 * C, 3 * C, 3 * C + 5), fc.integer({ min: 1, max: 400 * 1024 }));
const HEADER_CODES = ['malformed-header', 'no-identity-matched', 'header-mac'];
const PAYLOAD_CODES = ['chunk-auth', 'truncated', 'trailing-data'];

test('a bit flip anywhere in the header is rejected', () => {
  const plaintext = bytes(C + 100, 1);
  const { header, payload } = seal(plaintext);
  fc.assert(
    fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), (p, bit) => {
      const bad = Buffer.from(header);
      bad[p % bad.length]! ^= 1 << bit;
      assert.throws(() => openRecording({ header: bad, identity, recordingId: ID }), (e: unknown) => isSealError(e, HEADER_CODES));
      assert.throws(() => decryptFile(Buffer.concat([bad, payload]), { identities: [identity] }), (e: unknown) => e instanceof SealError);
    }),
    { numRuns: 300 },
  );
});

test('a bit flip anywhere in the payload is detected, and only verified chunks are released', async () => {
  await fc.assert(
    fc.asyncProperty(sizeArb, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.nat(), fc.nat(), async (size, p, bit, a, b) => {
      const plaintext = bytes(size, size);
      const { header, payload } = seal(plaintext);
      const at = p % payload.length;
      const bad = Buffer.from(payload);
      bad[at]! ^= 1 << bit;
      const broken = at < 16 ? 0 : Math.floor((at - 16) / ENC); // a bad nonce breaks chunk 0 onwards
      const opened = openRecording({ header, identity, recordingId: ID });

      const whole = await attempt(opened, bad, 0, size);
      assert.ok(isSealError(whole.error, ['chunk-auth']), `expected chunk-auth, got ${String(whole.error)}`);
      assert.ok(whole.yielded.equals(plaintext.subarray(0, broken * C)));

      const start = a % size;
      const end = start + 1 + (b % (size - start));
      const part = await attempt(opened, bad, start, end);
      const touches = at < 16 || (end > broken * C && start < (broken + 1) * C);
      if (touches) {
        assert.ok(isSealError(part.error, ['chunk-auth']));
        assert.ok(part.yielded.equals(plaintext.subarray(start, Math.max(start, broken * C))));
      } else {
        assert.equal(part.error, null);
        assert.ok(part.yielded.equals(plaintext.subarray(start, end)));
      }

      // The incremental whole-file decryptor releases exactly the chunks before the flip.
      const decryptor = new AgeDecryptor({ identities: [identity] });
      const released: Buffer[] = [];
      assert.throws(() => {
        released.push(...decryptor.push(Buffer.concat([header, bad])));
        released.push(decryptor.finish());
      }, (e: unknown) => isSealError(e, ['chunk-auth']));
      assert.ok(Buffer.concat(released).equals(plaintext.subarray(0, broken * C)));
    }),
    { numRuns: 200 },
  );
});

type Edit =
  | { kind: 'swap'; i: number; j: number }
  | { kind: 'drop'; i: number }
  | { kind: 'truncate'; at: number; boundary: boolean }
  | { kind: 'append'; extra: number; seed: number }
  | { kind: 'duplicate'; i: number };

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), i: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), boundary: fc.boolean() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.integer({ min: 1, max: ENC + 40 }), seed: fc.integer() }),
  fc.record({ kind: fc.constant('duplicate' as const), i: fc.nat() }),
);

/** Applies a structural edit; null if it does not apply to this many chunks. */
function applyEdit(edit: Edit, nonce: Buffer, chunks: Buffer[]): Buffer | null {
  const n = chunks.length;
  const list = [...chunks];
  switch (edit.kind) {
    case 'swap': {
      const i = edit.i % n;
      const j = edit.j % n;
      if (i === j) return null;
      [list[i], list[j]] = [list[j]!, list[i]!];
      break;
    }
    case 'drop':
      list.splice(edit.i % n, 1);
      break;
    case 'duplicate': {
      const i = edit.i % n;
      list.splice(i, 0, list[i]!);
      break;
    }
    case 'truncate': {
      const full = Buffer.concat([nonce, ...list]);
      const cut = edit.boundary ? 16 + (edit.at % n) * ENC : edit.at % full.length;
      return full.subarray(0, cut);
    }
    case 'append':
      list.push(bytes(edit.extra, edit.seed));
      break;
  }
  return Buffer.concat([nonce, ...list]);
}

test('swapped, dropped, duplicated, truncated or extended payloads are rejected', async () => {
  await fc.assert(
    fc.asyncProperty(sizeArb, editArb, fc.nat(), fc.nat(), async (size, edit, a, b) => {
      const plaintext = bytes(size, size + 3);
      const { header, nonce, chunks, payload } = seal(plaintext);
      const bad = applyEdit(edit, nonce, chunks);
      fc.pre(bad !== null);
      assert.ok(!bad!.equals(payload));
      const opened = openRecording({ header, identity, recordingId: ID });
      const whole = await attempt(opened, bad!, 0, Number.MAX_SAFE_INTEGER);
      assert.ok(isSealError(whole.error, PAYLOAD_CODES), `${edit.kind}: expected a payload error, got ${String(whole.error)}`);
      assertVerifiedPrefix(whole, plaintext, 0, Number.MAX_SAFE_INTEGER);
      const start = a % size;
      const end = start + 1 + (b % (size - start));
      const part = await attempt(opened, bad!, start, end);
      if (part.error !== null) assert.ok(isSealError(part.error, PAYLOAD_CODES));
      assertVerifiedPrefix(part, plaintext, start, end);
      // As a whole age file, a payload cut inside its nonce counts as an incomplete header.
      const fileCodes = bad!.length < 16 ? ['malformed-header'] : PAYLOAD_CODES;
      assert.throws(() => decryptFile(Buffer.concat([header, bad!]), { identities: [identity] }), (e: unknown) => isSealError(e, fileCodes));
    }),
    { numRuns: 250 },
  );
});

test('headers are bound to their recording', async () => {
  await fc.assert(
    fc.asyncProperty(fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), async (idA, idB) => {
      fc.pre(idA !== idB);
      const plaintext = bytes(C + 10, 5);
      const a = seal(plaintext, idA);
      const b = seal(bytes(C + 10, 6), idB);
      // Another recording's authentic header (same recipient) is refused for this one.
      assert.throws(() => openRecording({ header: b.header, identity, recordingId: idA }), (e: unknown) => isSealError(e, ['bound-to-other-recording']));
      assert.throws(
        () => decryptFile(Buffer.concat([b.header, a.payload]), { identities: [identity], recordingId: idA }),
        (e: unknown) => isSealError(e, ['bound-to-other-recording']),
      );
      // Opened under its own ID, it does not open this recording's payload.
      const wrong = await attempt(openRecording({ header: b.header, identity, recordingId: idB }), a.payload, 0, plaintext.length);
      assert.ok(isSealError(wrong.error, ['chunk-auth']));
      assert.equal(wrong.yielded.length, 0);
      // Editing the recording ID inside the header breaks the MAC.
      const text = a.header.toString('latin1');
      const edited = Buffer.from(text.replace(`-> callvault-recording ${idA}\n`, `-> callvault-recording ${idB}\n`), 'latin1');
      assert.ok(!edited.equals(a.header));
      for (const id of [idA, idB]) {
        assert.throws(() => openRecording({ header: edited, identity, recordingId: id }), (e: unknown) => isSealError(e, ['header-mac']));
      }
      // The untouched header still opens under its own ID and only that.
      const ok = await attempt(openRecording({ header: a.header, identity, recordingId: idA }), a.payload, 0, plaintext.length);
      assert.equal(ok.error, null);
      assert.ok(ok.yielded.equals(plaintext));
    }),
    { numRuns: 60 },
  );
});

test('a header needs exactly one binding stanza', () => {
  const { header } = seal(bytes(10, 1));
  assert.throws(() => openRecording({ header, identity, recordingId: 'bad id!' }), (e: unknown) => isSealError(e, ['bad-recording-id']));
  assert.throws(() => beginSeal({ recipient, recordingId: 'x'.repeat(65) }), (e: unknown) => isSealError(e, ['bad-recording-id']));
  assert.throws(() => beginSeal({ recipient, recordingId: '' }), (e: unknown) => isSealError(e, ['bad-recording-id']));
});
