// Interoperability of src/seal with the reference `age` tool (Debian package "age").
// These tests fail — they do not skip — when /usr/bin/age is missing: CI installs it,
// and "an operator can decrypt an export with stock age" is a promise of the design.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  beginSeal,
  decryptFile,
  encryptFile,
  formatIdentityFile,
  generateIdentity,
  openRecording,
  parseIdentityFile,
  recipientOf,
} from '../src/seal/index.ts';

const AGE = '/usr/bin/age';
const AGE_KEYGEN = '/usr/bin/age-keygen';
const SIZES = [0, 1, 65536, 200000];

const dir = mkdtempSync(join(tmpdir(), 'callvault-age-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(tool: string, args: string[], input?: Buffer): Buffer {
  assert.ok(existsSync(tool), `${tool} is missing: install the Debian "age" package (apt-get install -y age); CI installs it`);
  const result = spawnSync(tool, args, { input, maxBuffer: 64 << 20 });
  if (result.error) throw result.error;
  assert.equal(result.status, 0, `${tool} ${args[0]} failed: ${result.stderr.toString()}`);
  return result.stdout;
}

let fileCounter = 0;
function tempFile(content: string | Buffer): string {
  const path = join(dir, `f${fileCounter++}`);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

function sealRecording(plaintext: Buffer, recipient: string, recordingId: string): { header: Buffer; file: Buffer } {
  const sealer = beginSeal({ recipient, recordingId });
  const chunks: Buffer[] = [];
  // Uneven pushes, as a live call would deliver them.
  for (let at = 0; at < plaintext.length; at += 4000 + (at % 7919)) chunks.push(...sealer.push(plaintext.subarray(at, at + 4000 + (at % 7919))));
  chunks.push(sealer.finish());
  return { header: sealer.header, file: Buffer.concat([sealer.header, sealer.payloadPrefix, ...chunks]) };
}

test('age -d decrypts a sealed recording (catalog header + blob payload)', () => {
  const { identity, recipient } = generateIdentity();
  const identityFile = tempFile(formatIdentityFile(identity));
  for (const size of SIZES) {
    const plaintext = randomBytes(size);
    const { header, file } = sealRecording(plaintext, recipient, `rec-${size}`);
    const out = run(AGE, ['-d', '-i', identityFile, tempFile(file)]);
    assert.equal(out.length, size);
    assert.ok(out.equals(plaintext), `age -d output differs for ${size} bytes`);
    // The same header is what callvault keeps in its catalog; it opens for this recording.
    assert.doesNotThrow(() => openRecording({ header, identity, recordingId: `rec-${size}` }));
  }
});

test('files encrypted by age -r decrypt with decryptFile, binary and armored', () => {
  const { identity, recipient } = generateIdentity();
  const other = generateIdentity();
  for (const size of SIZES) {
    const plaintext = randomBytes(size);
    const binary = run(AGE, ['-r', recipient, '-r', other.recipient], plaintext);
    assert.equal(binary.subarray(0, 22).toString('latin1'), 'age-encryption.org/v1\n');
    assert.ok(decryptFile(binary, { identities: [identity] }).equals(plaintext), `binary, ${size} bytes`);
    assert.ok(decryptFile(binary, { identities: [other.identity] }).equals(plaintext));
    const armored = run(AGE, ['-a', '-r', recipient], plaintext);
    assert.equal(armored.subarray(0, 34).toString('latin1'), '-----BEGIN AGE ENCRYPTED FILE-----');
    assert.ok(decryptFile(armored, { identities: [identity] }).equals(plaintext), `armored, ${size} bytes`);
    assert.throws(() => decryptFile(armored, { identities: [generateIdentity().identity] }));
  }
});

test('encryptFile output (binary and armored, several recipients) decrypts with age -d', () => {
  const a = generateIdentity();
  const b = generateIdentity();
  const identityFile = tempFile(formatIdentityFile(b.identity));
  for (const size of SIZES) {
    const plaintext = randomBytes(size);
    for (const armor of [false, true]) {
      const file = encryptFile(plaintext, { recipients: [a.recipient, b.recipient], armor });
      assert.ok(run(AGE, ['-d', '-i', identityFile, tempFile(file)]).equals(plaintext), `armor=${armor}, ${size} bytes`);
    }
  }
});

test('identities and recipients agree with age-keygen', () => {
  const generated = run(AGE_KEYGEN, []).toString();
  const [identity] = parseIdentityFile(generated);
  const publicLine = /# public key: (age1[0-9a-z]+)/.exec(generated);
  assert.ok(identity && publicLine);
  assert.equal(recipientOf(identity), publicLine[1]);
  const ours = generateIdentity();
  assert.equal(run(AGE_KEYGEN, ['-y', tempFile(formatIdentityFile(ours.identity))]).toString().trim(), ours.recipient);
});
