// Encodings and small APIs: Bech32, keys, header and armor round trips, identity
// files, sealed fields, key rotation and streaming decryption.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { bech32Decode, bech32Encode } from './bech32.ts';
import { encodeHeader, headerMacMatches, parseHeader } from './header.ts';
import {
  SealError,
  beginSeal,
  decodeArmor,
  decryptFile,
  decryptStream,
  encodeArmor,
  encryptFile,
  formatIdentityFile,
  generateIdentity,
  openRecording,
  parseIdentityFile,
  recipientOf,
  rewrapRecordingHeader,
} from './index.ts';

const code = (c: string) => (e: unknown) => e instanceof SealError && e.code === c;

test('Bech32 follows BIP 173 (valid and invalid strings)', () => {
  for (const s of ['A12UEL5L', 'a12uel5l', 'abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw', '?1ezyfcl', 'split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w']) {
    const d = bech32Decode(s);
    assert.ok(d, s);
    assert.equal(bech32Encode(d.hrp, d.data, s === s.toUpperCase() && s !== s.toLowerCase()), s);
  }
  const long = 'an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs';
  assert.equal(bech32Decode(long)?.data.length, 0); // no 90-character limit
  for (const s of ['pzry9x8gf2tvdw0s3jn54khce6mua7l', 'x1b4n0q5v', 'li1dgmt3', 'A1G7SGD8', '10a06t8', '1qzzfhee', 'A12uEL5L']) {
    assert.equal(bech32Decode(s), null, s);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.boolean(), (data, upper) => {
      const s = bech32Encode('age', data, upper);
      const d = bech32Decode(s);
      assert.ok(d && Buffer.from(data).equals(d.data) && d.hrp === (upper ? 'AGE' : 'age'));
    }),
  );
});

test('X25519 identities and recipients', () => {
  // The example pair from the age specification (c2sp.org/age).
  const specIdentity = 'AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX';
  assert.equal(recipientOf(specIdentity), 'age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj');
  const { identity, recipient } = generateIdentity();
  assert.match(identity, /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/);
  assert.match(recipient, /^age1[0-9a-z]{58}$/);
  assert.equal(recipientOf(identity), recipient);
  assert.notEqual(generateIdentity().identity, identity);
  for (const bad of [identity.toLowerCase(), recipient, identity.slice(0, -1) + (identity.endsWith('Q') ? 'P' : 'Q'), '', 'AGE-SECRET-KEY-1']) {
    assert.throws(() => recipientOf(bad), (e: unknown) => code('bad-key')(e) && !(e as Error).message.includes(identity.slice(16, 30)));
  }
  for (const bad of [recipient.toUpperCase(), identity, recipient.slice(0, -1) + (recipient.endsWith('q') ? 'p' : 'q')]) {
    assert.throws(() => encryptFile(Buffer.from('x'), { recipients: [bad] }), code('bad-key'));
  }
});

const vchar = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 12 });
const stanzaArb = fc.record({ args: fc.array(vchar, { minLength: 1, maxLength: 4 }), body: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) });

test('headers round-trip through the strict parser and their MAC verifies', () => {
  fc.assert(
    fc.property(fc.array(stanzaArb, { minLength: 1, maxLength: 5 }), (stanzas) => {
      const fileKey = randomBytes(16);
      const encoded = encodeHeader(stanzas, fileKey);
      const parsed = parseHeader(encoded);
      assert.deepEqual(parsed.stanzas.map((s) => ({ args: [...s.args], body: s.body })), stanzas.map((s) => ({ args: s.args, body: s.body })));
      assert.ok(headerMacMatches(fileKey, parsed));
      assert.ok(!headerMacMatches(randomBytes(16), parsed));
      for (const line of encoded.toString('latin1').split('\n')) assert.ok(line.length <= 64 || line.startsWith('-> '));
      assert.throws(() => parseHeader(Buffer.concat([encoded, Buffer.from('x')])), code('malformed-header'));
      assert.throws(() => parseHeader(Buffer.concat([encoded, Buffer.from('-> x\n\n')])), code('malformed-header'));
      assert.throws(() => parseHeader(encoded.subarray(0, -1)), code('malformed-header'));
    }),
    { numRuns: 200 },
  );
  assert.throws(() => encodeHeader([{ args: ['has space'], body: Buffer.alloc(0) }], randomBytes(16)), code('bad-options'));
});

test('armor round-trips, tolerates only outer whitespace and CRLF, and is canonical', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 500 }), fc.boolean(), (data, crlf) => {
      const armored = encodeArmor(data).toString('latin1');
      const lines = armored.split('\n');
      assert.ok(lines.slice(1, -2).every((l) => l.length <= 64));
      const variant = Buffer.from(`\n \t${crlf ? armored.replaceAll('\n', '\r\n') : armored}  \n`, 'latin1');
      assert.ok(decodeArmor(variant).equals(Buffer.from(data)));
      if (data.length > 0) {
        assert.throws(() => decodeArmor(Buffer.from(armored.replace('-----\n', '-----\n\n'), 'latin1')), code('malformed-armor'));
        assert.throws(() => decodeArmor(Buffer.from('x' + armored, 'latin1')), code('malformed-armor'));
        assert.throws(() => decodeArmor(Buffer.from(armored.replace('\n-----END', ' \n-----END'), 'latin1')), code('malformed-armor'));
      }
    }),
    { numRuns: 200 },
  );
});

test('identity files: what formatIdentityFile writes, parseIdentityFile reads', () => {
  const { identity, recipient } = generateIdentity();
  const text = formatIdentityFile(identity, new Date(0));
  assert.ok(text.includes(`# public key: ${recipient}\n`));
  assert.deepEqual(parseIdentityFile(text), [identity]);
  assert.deepEqual(parseIdentityFile(`${text}\r\n# comment\n\n${identity}\r\n`), [identity, identity]);
  assert.throws(() => parseIdentityFile('# nothing here\n'), code('bad-key'));
  assert.throws(
    () => parseIdentityFile(`${text}${identity.slice(0, -2)}\n`),
    (e: unknown) => code('bad-key')(e) && (e as Error).message.includes('line 4') && !(e as Error).message.includes(identity.slice(16, 40)),
  );
  // A passphrase-sealed identity file (how the archive identity can be kept).
  const sealed = encryptFile(Buffer.from(text), { passphrase: 'pass phrase', armor: true, scryptWorkFactor: 10 });
  assert.deepEqual(parseIdentityFile(decryptFile(sealed, { passphrase: 'pass phrase' }).toString()), [identity]);
});

test('sealed fields open only under their recording and label', () => {
  const { identity, recipient } = generateIdentity();
  const a = beginSeal({ recipient, recordingId: 'A' });
  const b = beginSeal({ recipient, recordingId: 'B' });
  const caller = a.sealField('caller', Buffer.from('+46701234567'));
  a.finish(); // fields can still be sealed after the payload is finished
  const callee = a.sealField('callee', Buffer.from('+4613000000'));
  const other = b.sealField('caller', Buffer.from('+46701234567'));
  a.destroy();
  assert.throws(() => a.sealField('caller', Buffer.from('x')), code('bad-state'));
  assert.ok(!caller.includes(Buffer.from('+4670')));
  const opened = openRecording({ header: a.header, identity, recordingId: 'A' });
  assert.equal(opened.openField('caller', caller).toString(), '+46701234567');
  assert.equal(opened.openField('callee', callee).toString(), '+4613000000');
  assert.throws(() => opened.openField('callee', caller), code('field-auth'));
  assert.throws(() => opened.openField('caller', other), code('field-auth'));
  const flipped = Buffer.from(caller);
  flipped[flipped.length - 1]! ^= 1;
  assert.throws(() => opened.openField('caller', flipped), code('field-auth'));
  assert.throws(() => opened.openField('bad label', caller), code('bad-options'));
});

test('rewrapRecordingHeader moves a recording to a new identity, keeping its binding', async () => {
  const oldKey = generateIdentity();
  const newKey = generateIdentity();
  const sealer = beginSeal({ recipient: oldKey.recipient, recordingId: 'rot-1' });
  const plaintext = randomBytes(70000);
  const payload = Buffer.concat([sealer.payloadPrefix, ...sealer.push(plaintext), sealer.finish()]);
  const header = rewrapRecordingHeader({ header: sealer.header, identity: oldKey.identity, recordingId: 'rot-1', recipients: [newKey.recipient] });
  assert.throws(() => openRecording({ header, identity: oldKey.identity, recordingId: 'rot-1' }), code('no-identity-matched'));
  assert.throws(() => openRecording({ header, identity: newKey.identity, recordingId: 'rot-2' }), code('bound-to-other-recording'));
  const opened = openRecording({ header, identity: newKey.identity, recordingId: 'rot-1' });
  const parts: Buffer[] = [];
  const read = async (offset: number, length: number) => payload.subarray(offset, offset + length);
  for await (const p of opened.readRange({ payloadSize: payload.length, start: 0, end: Infinity, read })) parts.push(p);
  assert.ok(Buffer.concat(parts).equals(plaintext));
  assert.throws(
    () => rewrapRecordingHeader({ header, identity: oldKey.identity, recordingId: 'rot-1', recipients: [oldKey.recipient] }),
    code('no-identity-matched'),
  );
});

test('decryptStream yields verified plaintext and fails on a truncated file', async () => {
  const { identity, recipient } = generateIdentity();
  const plaintext = randomBytes(200000);
  const file = encryptFile(plaintext, { recipients: [recipient] });
  async function* pieces(buf: Buffer, size: number) {
    for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
  }
  const out: Buffer[] = [];
  for await (const p of decryptStream(pieces(file, 7777), { identities: [identity] })) out.push(p);
  assert.ok(Buffer.concat(out).equals(plaintext));
  const decryptSome = async (file: Buffer, released: Buffer[]) => {
    for await (const p of decryptStream(pieces(file, 5000), { identities: [identity] })) released.push(p);
  };
  // Cut at a chunk boundary: the three full chunks verify, the final one is missing.
  const lastChunk = 200000 - 3 * 65536 + 16;
  const partial: Buffer[] = [];
  await assert.rejects(decryptSome(file.subarray(0, file.length - lastChunk), partial), code('truncated'));
  assert.ok(Buffer.concat(partial).equals(plaintext.subarray(0, 3 * 65536)));
  // Cut inside the final chunk: it cannot authenticate; nothing of it is released.
  const cut: Buffer[] = [];
  await assert.rejects(decryptSome(file.subarray(0, file.length - 100), cut), code('chunk-auth'));
  assert.ok(Buffer.concat(cut).equals(plaintext.subarray(0, 3 * 65536)));
});
