import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createHmac } from 'node:crypto';
import { createBlindIndex } from './blind-index.ts';
import { PhoneNumberError, toE164 } from './phone.ts';

it('normalizes E.164 and Swedish national forms', () => {
  const cases: Array<[string, string]> = [
    ['+46701234567', '+46701234567'], ['+46 70-123 45 67', '+46701234567'], ['0046701234567', '+46701234567'],
    ['070-123 45 67', '+46701234567'], ['(070) 123.45.67', '+46701234567'], ['08-123 456 78', '+46812345678'],
    ['0771-11 77 00', '+46771117700'], ['+1 415 555 2671', '+14155552671'],
    // The trunk prefix written along with the country code is not part of the number.
    ['+46 (0)70 123 45 67', '+46701234567'], ['+46 070-123 45 67', '+46701234567'], ['0046 (0)8 123 456 78', '+46812345678'],
    ['+44 (0)20 7946 0018', '+442079460018'], ['+39 06 1234 5678', '+390612345678'],
  ];
  for (const [input, want] of cases) assert.equal(toE164(input), want, input);
});

it('refuses what is not a phone number, without repeating it', () => {
  for (const bad of ['', '12345', '+0123456789', '070-12', 'abc', '+46 70 123 45 67 89 01 23', '0', '0070', '46701234567', 'x'.repeat(41)]) {
    assert.throws(() => toE164(bad), (err: Error) => err instanceof PhoneNumberError && (bad.length < 4 || !err.message.includes(bad)), bad);
  }
});

it('indexes numbers with a key: same number same index, other key other index', () => {
  const a = createBlindIndex(Buffer.alloc(32, 1));
  const b = createBlindIndex(Buffer.alloc(32, 2));
  assert.deepEqual(a.phone('+46701234567'), a.phone('+46701234567'));
  assert.notDeepEqual(a.phone('+46701234567'), a.phone('+46701234568'));
  assert.notDeepEqual(a.phone('+46701234567'), b.phone('+46701234567'));
  assert.equal(a.pseudonym('+46701234567').length, 32);
  assert.throws(() => createBlindIndex(Buffer.alloc(16)));
});

it('keeps the blind index of existing archives: HMAC-SHA-256 of the domain and the value, first 16 bytes', () => {
  const key = Buffer.alloc(32, 7);
  const expect = (domain: string, value: string) => createHmac('sha256', key).update(`callvault/${domain}/v1\0${value}`).digest().subarray(0, 16);
  const index = createBlindIndex(key);
  assert.ok(index.phone('+46701234567').equals(expect('phone', '+46701234567')));
  assert.ok(index.personnummerIndex('197001011234').equals(expect('personnummer', '197001011234')));
  assert.equal(index.pseudonym('+46701234567'), expect('phone', '+46701234567').toString('hex'));
});
