import assert from 'node:assert/strict';
import { it } from 'node:test';
import { base32Decode, base32Encode, hotp, otpauthUri, totpCode, verifyTotp } from './totp.ts';

// RFC 6238 appendix B, SHA-1 column, secret "12345678901234567890"; 8-digit codes truncated to
// our 6 digits are the last 6 digits of the RFC's values.
const SECRET = Buffer.from('12345678901234567890');
const VECTORS: Array<[number, string]> = [
  [59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'], [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130'],
];

it('matches the RFC 6238 test vectors', () => {
  for (const [t, code] of VECTORS) assert.equal(totpCode(SECRET, t * 1000), code.slice(-6), `t=${t}`);
});

it('matches the RFC 4226 HOTP vectors', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  expected.forEach((code, counter) => assert.equal(hotp(SECRET, counter), code));
});

it('accepts one step of clock drift either way, not two', () => {
  const now = 1_800_000_000_000;
  for (const drift of [-30_000, 0, 30_000]) assert.notEqual(verifyTotp(SECRET, totpCode(SECRET, now + drift), now, null), null, `drift ${drift}`);
  for (const drift of [-60_000, 60_000]) assert.equal(verifyTotp(SECRET, totpCode(SECRET, now + drift), now, null), null, `drift ${drift}`);
});

it('refuses a replayed code and any code of an earlier step', () => {
  const now = 1_800_000_000_000;
  const step = verifyTotp(SECRET, totpCode(SECRET, now), now, null);
  assert.notEqual(step, null);
  assert.equal(verifyTotp(SECRET, totpCode(SECRET, now), now, step), null);
  assert.equal(verifyTotp(SECRET, totpCode(SECRET, now - 30_000), now, step), null);
  assert.equal(verifyTotp(SECRET, totpCode(SECRET, now + 30_000), now, step), step! + 1);
});

it('refuses malformed codes', () => {
  for (const bad of ['', '12345', '1234567', 'abcdef', ' 12345', 123456, null, undefined]) {
    assert.equal(verifyTotp(SECRET, bad, Date.now(), null), null, String(bad));
  }
});

it('base32 round-trips and builds an otpauth URI', () => {
  assert.equal(base32Encode(Buffer.from('foobar')), 'MZXW6YTBOI');
  assert.deepEqual(base32Decode('MZXW6YTBOI'), Buffer.from('foobar'));
  assert.match(otpauthUri(SECRET, 'admin'), /^otpauth:\/\/totp\/callvault%3Aadmin\?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=callvault/);
});
