// Every age test vector from the C2SP CCTV suite (npm cctv-age), except the
// post-quantum hybrid ones. Each vector is decrypted three ways: decryptFile with the
// armor mode the vector states, decryptFile with armor auto-detection, and the
// incremental AgeDecryptor fed in small pieces, which must release exactly the
// plaintext the vector's hash describes (for payload failures: the verified prefix).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import * as cctv from 'cctv-age';
import { AgeDecryptor, SealError, decodeArmor, decryptFile, generateIdentity } from './index.ts';

interface Vector {
  name: string;
  expect: string;
  payloadHash: string | null;
  identities: string[];
  passphrases: string[];
  armored: boolean;
  file: Buffer;
}

function parseVector(name: string, raw: Uint8Array): Vector {
  const bytes = Buffer.from(raw);
  const split = bytes.indexOf('\n\n');
  assert.ok(split > 0, `${name}: no blank line after the vector header`);
  const fields: [string, string][] = bytes
    .subarray(0, split)
    .toString('utf8')
    .split('\n')
    .map((line) => {
      const at = line.indexOf(': ');
      return [line.slice(0, at), line.slice(at + 2)];
    });
  const all = (key: string) => fields.filter(([k]) => k === key).map(([, v]) => v);
  const one = (key: string) => all(key)[0] ?? null;
  let file = bytes.subarray(split + 2);
  if (one('compressed') === 'zlib') file = inflateSync(file);
  return {
    name,
    expect: one('expect') ?? '',
    payloadHash: one('payload'),
    identities: all('identity'),
    passphrases: all('passphrase'),
    armored: one('armored') === 'yes',
    file,
  };
}

const CODES: Record<string, readonly string[]> = {
  'success': [],
  'no match': ['no-identity-matched'],
  'HMAC failure': ['header-mac'],
  'header failure': ['malformed-header'],
  'payload failure': ['chunk-auth', 'truncated', 'trailing-data'],
  'armor failure': ['malformed-armor'],
};

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof SealError, `expected a SealError, got ${String(err)}`);
    return err.code;
  }
  return 'no error';
}

const all = Object.entries(cctv)
  .filter((entry): entry is [string, Uint8Array] => entry[1] instanceof Uint8Array)
  .map(([name, raw]) => parseVector(name, raw));
// Skipped on purpose: the post-quantum ML-KEM-768 + X25519 hybrid recipient type
// ("hybrid*" vectors and their armored variant "armor_hybrid") is not supported.
const vectors = all.filter((v) => !v.name.includes('hybrid'));

test('the vector set is complete enough', () => {
  assert.ok(all.length >= 140, `only ${all.length} vectors found in cctv-age`);
  assert.ok(vectors.length > 100, `only ${vectors.length} vectors would run`);
  for (const v of vectors) assert.ok(v.expect in CODES, `${v.name}: unknown expectation ${v.expect}`);
});

test('cctv-age vectors', async (t) => {
  let ran = 0;
  for (const v of vectors) {
    await t.test(v.name, () => {
      const opts = {
        identities: v.identities.length > 0 || v.passphrases.length > 0 ? v.identities : [generateIdentity().identity],
        passphrase: v.passphrases[0],
      };
      const expected = CODES[v.expect]!;

      // 1. Whole-file decryption in the stated armor mode: all or nothing.
      if (v.expect === 'success') {
        assert.equal(sha256(decryptFile(v.file, { ...opts, armor: v.armored })), v.payloadHash);
      } else {
        const code = codeOf(() => decryptFile(v.file, { ...opts, armor: v.armored }));
        assert.ok(expected.includes(code), `${v.name}: expected ${v.expect}, got ${code}`);
      }

      // 2. Armor auto-detection agrees on successes and still rejects every failure.
      if (v.expect === 'success') {
        assert.equal(sha256(decryptFile(v.file, opts)), v.payloadHash);
      } else {
        assert.notEqual(codeOf(() => decryptFile(v.file, opts)), 'no error');
      }

      // 3. Incremental decryption in 4099-byte pieces releases only verified plaintext.
      if (v.expect === 'armor failure') {
        assert.equal(codeOf(() => decodeArmor(v.file)), 'malformed-armor');
        ran += 1;
        return;
      }
      const binary = v.armored ? decodeArmor(v.file) : v.file;
      const decryptor = new AgeDecryptor(opts);
      const released: Buffer[] = [];
      const code = codeOf(() => {
        for (let i = 0; i < binary.length; i += 4099) released.push(...decryptor.push(binary.subarray(i, i + 4099)));
        released.push(decryptor.finish());
      });
      if (v.expect === 'success') {
        assert.equal(code, 'no error');
      } else {
        assert.ok(expected.includes(code), `${v.name} (incremental): expected ${v.expect}, got ${code}`);
      }
      if (v.payloadHash !== null) assert.equal(sha256(Buffer.concat(released)), v.payloadHash);
      else assert.equal(Buffer.concat(released).length, 0);
      ran += 1;
    });
  }
  assert.equal(ran, vectors.length);
  assert.ok(ran > 100, `only ${ran} vectors ran`);
});
