import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  CheckpointError,
  MAX_NOTE_BYTES,
  keyId,
  openNote,
  signCheckpoint,
  signNote,
  verifierKey,
  verifyCheckpoint,
  type CheckpointErrorReason,
} from './checkpoint.ts';

// Ed25519 private key from a raw 32-byte seed (PKCS#8 wrapper of RFC 8410).
function keyFromSeed(seed: Uint8Array): KeyObject {
  const prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
  return createPrivateKey({ key: Buffer.concat([prefix, seed]), format: 'der', type: 'pkcs8' });
}
// Raw public key taken from the SPKI DER (last 32 bytes), independently of checkpoint.ts.
const rawPub = (k: KeyObject): Buffer => createPublicKey(k).export({ format: 'der', type: 'spki' }).subarray(-32);

function rejects(fn: () => unknown, reason: CheckpointErrorReason): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    return true;
  });
}

const root = createHash('sha256').update('some tree').digest();
const origin = 'callvault.example/audit';
const key = generateKeyPairSync('ed25519').privateKey;
const vkey = verifierKey(origin, createPublicKey(key));
const other = generateKeyPairSync('ed25519').privateKey;

// golang.org/x/mod/sumdb/note test vector (also in C2SP signed-note implementations).
const GO_SKEY_SEED = 'AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'; // base64(0x01 || seed)
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

test('Go sumdb/note test vector: verifier key, signature and verification', () => {
  const raw = Buffer.from(GO_SKEY_SEED, 'base64');
  assert.equal(raw[0], 0x01);
  const k = keyFromSeed(raw.subarray(1));
  assert.equal(verifierKey('PeterNeumann', createPublicKey(k)), GO_VKEY);
  assert.equal(signNote(GO_TEXT, k, 'PeterNeumann'), GO_NOTE);
  assert.equal(openNote(GO_NOTE, GO_VKEY), GO_TEXT);
  assert.equal(openNote(Buffer.from(GO_NOTE, 'utf8'), GO_VKEY), GO_TEXT);
  rejects(() => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), GO_VKEY), 'bad_signature');
});

test('key ID and verifier key follow the signed-note formula', () => {
  const pub = rawPub(key);
  const want = createHash('sha256').update(Buffer.concat([Buffer.from(origin, 'utf8'), Buffer.from([0x0a, 0x01]), pub])).digest().subarray(0, 4);
  assert.deepEqual(keyId(origin, createPublicKey(key)), want);
  assert.equal(vkey, `${origin}+${want.toString('hex')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`);
  rejects(() => verifierKey('has space', createPublicKey(key)), 'bad_key');
  rejects(() => verifierKey('a+b', createPublicKey(key)), 'bad_key');
  rejects(() => verifierKey('', createPublicKey(key)), 'bad_key');
});

test('round trip', () => {
  const note = signCheckpoint({ origin, size: 20852163, rootHash: root, privateKey: key, keyName: origin });
  const lines = note.split('\n');
  assert.deepEqual(lines.slice(0, 4), [origin, '20852163', root.toString('base64'), '']);
  assert.ok(lines[4]?.startsWith(`\u2014 ${origin} `));
  assert.equal(Buffer.from((lines[4] as string).split(' ')[2] as string, 'base64').length, 68);
  assert.equal(lines[5], '');
  assert.equal(lines.length, 6);
  const got = verifyCheckpoint(note, vkey);
  assert.deepEqual(got, { origin, size: 20852163, rootHash: root, extensions: [] });
  for (const size of [0, 1, Number.MAX_SAFE_INTEGER]) {
    assert.equal(verifyCheckpoint(signCheckpoint({ origin, size, rootHash: root, privateKey: key }), vkey).size, size);
  }
  const ext = verifyCheckpoint(signCheckpoint({ origin, size: 3, rootHash: root, extensions: ['x y z'], privateKey: key }), vkey);
  assert.deepEqual(ext.extensions, ['x y z']);
});

test('tampering is refused', () => {
  const note = signCheckpoint({ origin, size: 42, rootHash: root, privateKey: key });
  const [body, sigLine] = note.split('\n\n') as [string, string];
  const blob = Buffer.from(sigLine.trim().split(' ')[2] as string, 'base64');
  // Forged signature: every bit of the 64 signature bytes.
  for (let bit = 32; bit < blob.length * 8; bit++) {
    const b = Buffer.from(blob);
    b[bit >> 3] = (b[bit >> 3] as number) ^ (1 << (bit & 7));
    rejects(() => verifyCheckpoint(`${body}\n\n\u2014 ${origin} ${b.toString('base64')}\n`, vkey), 'bad_signature');
  }
  // Changed key ID bits make it someone else's signature: ignored, so no known signature.
  const b = Buffer.from(blob);
  b[0] = (b[0] as number) ^ 1;
  rejects(() => verifyCheckpoint(`${body}\n\n\u2014 ${origin} ${b.toString('base64')}\n`, vkey), 'unknown_key');
  const sig = `\n\n${sigLine}`;
  rejects(() => verifyCheckpoint(`${origin}\n43\n${root.toString('base64')}${sig}`, vkey), 'bad_signature');
  const root2 = Buffer.from(root);
  root2[31] = (root2[31] as number) ^ 0x80;
  rejects(() => verifyCheckpoint(`${origin}\n42\n${root2.toString('base64')}${sig}`, vkey), 'bad_signature');
  rejects(() => verifyCheckpoint(`${origin}x\n42\n${root.toString('base64')}${sig}`, vkey), 'bad_signature');
  rejects(() => verifyCheckpoint(`${origin}\n42\n${root.toString('base64')}\next${sig}`, vkey), 'bad_signature');
});

test('newline framing', () => {
  const note = signCheckpoint({ origin, size: 42, rootHash: root, privateKey: key });
  const [body, sigLine] = note.split('\n\n') as [string, string];
  assert.equal(verifyCheckpoint(`${body}\n\n${sigLine}`, vkey).size, 42);
  rejects(() => verifyCheckpoint(`${body}\n${sigLine}`, vkey), 'malformed_note'); // no blank line
  rejects(() => verifyCheckpoint(`${body}\n\n\n${sigLine}`, vkey), 'bad_signature'); // extra blank line: signed text differs
  rejects(() => verifyCheckpoint(note.slice(0, -1), vkey), 'malformed_note'); // no final newline
  rejects(() => verifyCheckpoint(`${note}\n`, vkey), 'malformed_note'); // trailing blank line
  rejects(() => verifyCheckpoint(`\n${note}`, vkey), 'bad_signature'); // leading newline changes the text
  rejects(() => verifyCheckpoint(note.replace('\n\n', '\r\n\n'), vkey), 'malformed_note');
  rejects(() => verifyCheckpoint(note.replace('\u2014', '-'), vkey), 'malformed_note');
  rejects(() => verifyCheckpoint(note.replace(`\u2014 ${origin} `, `\u2014 ${origin}  `), vkey), 'bad_base64');
  rejects(() => verifyCheckpoint(Buffer.concat([Buffer.from(note), Buffer.from([0xff, 0x0a])]), vkey), 'malformed_note');
});

test('signatures by other keys, and notes with several signatures', () => {
  const mine = signCheckpoint({ origin, size: 7, rootHash: root, privateKey: key });
  const theirs = signCheckpoint({ origin, size: 7, rootHash: root, privateKey: other });
  const theirLine = theirs.split('\n\n')[1] as string;
  const [body, myLine] = mine.split('\n\n') as [string, string];
  // Same name, other key: its ID differs, so it is not our key's signature.
  rejects(() => verifyCheckpoint(theirs, vkey), 'unknown_key');
  // A witness cosignature (another name) before or after ours: ours suffices.
  const witness = signNote(`${body}\n`, other, 'witness.example/w1').split('\n\n')[1] as string;
  assert.equal(verifyCheckpoint(`${body}\n\n${witness}${myLine}`, vkey).size, 7);
  assert.equal(verifyCheckpoint(`${body}\n\n${myLine}${witness}`, vkey).size, 7);
  const wkey = verifierKey('witness.example/w1', createPublicKey(other));
  assert.equal(verifyCheckpoint(`${body}\n\n${myLine}${witness}`, [vkey, wkey]).size, 7);
  assert.equal(verifyCheckpoint(`${body}\n\n${witness}`, [vkey, wkey]).size, 7);
  // A same-name same-ID signature that does not verify rejects the note, even beside a good one.
  // `theirLine` has our name but the other key's ID: ignored, and ours verifies.
  assert.equal(verifyCheckpoint(`${body}\n\n${theirLine}${myLine}`, vkey).size, 7);
  // With our ID and the other key's signature bytes it is a bad signature from a known key.
  const forged = Buffer.concat([keyId(origin, createPublicKey(key)), Buffer.from((theirLine.trim().split(' ')[2] as string), 'base64').subarray(4)]);
  rejects(() => verifyCheckpoint(`${body}\n\n\u2014 ${origin} ${forged.toString('base64')}\n${myLine}`, vkey), 'bad_signature');
  rejects(() => verifyCheckpoint(`${body}\n\n${myLine}${myLine}`, vkey), 'malformed_note');
});

test('checkpoint body rules: canonical size, base64, lengths, verifier keys', () => {
  const signed = (text: string): string => signNote(text, key, origin);
  const b64 = root.toString('base64');
  for (const size of ['007', '+7', '-1', '7 ', ' 7', '1e3', '0x10', '', '9007199254740993']) {
    rejects(() => verifyCheckpoint(signed(`${origin}\n${size}\n${b64}\n`), vkey), 'bad_size');
  }
  rejects(() => verifyCheckpoint(signed(`${origin}\n7\n${b64.slice(0, -1)}\n`), vkey), 'bad_base64');
  rejects(() => verifyCheckpoint(signed(`${origin}\n7\n${root.toString('base64url')}\n`), vkey), 'bad_base64');
  rejects(() => verifyCheckpoint(signed(`${origin}\n7\n${root.subarray(1).toString('base64')}\n`), vkey), 'malformed_checkpoint');
  rejects(() => verifyCheckpoint(signed(`${origin}\n7\n`), vkey), 'malformed_checkpoint');
  rejects(() => verifyCheckpoint(signed(`\n7\n${b64}\n`), vkey), 'malformed_checkpoint');
  rejects(() => verifyCheckpoint(signed(`${origin}\n7\n${b64}\n\next\n`), vkey), 'malformed_checkpoint');
  const big = signed(`${origin}\n7\n${b64}\n${'x'.repeat(MAX_NOTE_BYTES - 200)}\n`);
  assert.equal(verifyCheckpoint(big, vkey).size, 7);
  rejects(() => signed(`${origin}\n7\n${b64}\n${'x'.repeat(MAX_NOTE_BYTES)}\n`), 'too_long');
  rejects(() => verifyCheckpoint(`${big.slice(0, 80)}${'x'.repeat(MAX_NOTE_BYTES)}${big.slice(80)}`, vkey), 'too_long');
  rejects(() => signCheckpoint({ origin, size: -1, rootHash: root, privateKey: key }), 'bad_size');
  rejects(() => signCheckpoint({ origin, size: 1.5, rootHash: root, privateKey: key }), 'bad_size');
  rejects(() => signCheckpoint({ origin: 'a\nb', size: 1, rootHash: root, privateKey: key }), 'malformed_checkpoint');
  rejects(() => signCheckpoint({ origin, size: 1, rootHash: root.subarray(1), privateKey: key }), 'malformed_checkpoint');
  rejects(() => signCheckpoint({ origin, size: 1, rootHash: root, privateKey: createPublicKey(key) }), 'bad_key');
  const note = signCheckpoint({ origin, size: 1, rootHash: root, privateKey: key });
  const [name, id] = vkey.split('+') as [string, string];
  const enc = vkey.slice(name.length + id.length + 2);
  const encBytes = Buffer.from(enc, 'base64');
  rejects(() => verifyCheckpoint(note, `${name}+00000000+${enc}`), 'bad_key');
  // Upper-case hex is refused (only meaningful when the random key's id has a letter: 98% of runs).
  if (/[a-f]/.test(id)) rejects(() => verifyCheckpoint(note, `${name}+${id.toUpperCase()}+${enc}`), 'bad_key');
  rejects(() => verifyCheckpoint(note, `${name}+${id}+${Buffer.concat([Buffer.from([2]), encBytes.subarray(1)]).toString('base64')}`), 'bad_key');
  rejects(() => verifyCheckpoint(note, `${name}+${id}`), 'bad_key');
  rejects(() => verifyCheckpoint(note, `other.example+${id}+${enc}`), 'bad_key');
  rejects(() => verifyCheckpoint(note, verifierKey('other.example', createPublicKey(key))), 'unknown_key');
  rejects(() => verifyCheckpoint(note, []), 'unknown_key');
});
