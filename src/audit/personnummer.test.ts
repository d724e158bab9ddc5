import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parsePersonnummer, PersonnummerError } from './personnummer.ts';

const TODAY = new Date('2026-11-25T00:00:00Z');

// Check digits computed here, independently of the module, from the Luhn rule.
function withCheck(nine: string): string {
  let sum = 0;
  for (let i = 0; i < 9; i++) {
    let d = Number(nine[i]) * (i % 2 === 0 ? 2 : 1);
    if (d > 9) d -= 9;
    sum += d;
  }
  return nine + String((10 - (sum % 10)) % 10);
}

it('accepts the usual forms and normalizes to twelve digits', () => {
  const ten = withCheck('811218987'); // Skatteverket's example birth date 1981-12-18
  const forms = [`${ten.slice(0, 6)}-${ten.slice(6)}`, ten, `19${ten}`, `19${ten.slice(0, 6)}-${ten.slice(6)}`];
  for (const f of forms) assert.deepEqual(parsePersonnummer(f, TODAY), { normalized: `19${ten}`, kind: 'personnummer' }, f);
});

it('puts ten-digit numbers in the right century, and + means a hundred years more', () => {
  const young = withCheck('120101123');
  assert.equal(parsePersonnummer(young, TODAY).normalized, `20${young}`);
  assert.equal(parsePersonnummer(`${young.slice(0, 6)}+${young.slice(6)}`, TODAY).normalized, `19${young}`);
  const old = withCheck('300101123');
  assert.equal(parsePersonnummer(old, TODAY).normalized, `19${old}`);
});

it('recognizes samordningsnummer (day + 60)', () => {
  const s = withCheck('701063123'); // 1970-10-03 as 63
  assert.deepEqual(parsePersonnummer(s, TODAY), { normalized: `19${s}`, kind: 'samordningsnummer' });
  const bad = withCheck('701092123'); // day 32
  assert.throws(() => parsePersonnummer(bad, TODAY), /samordningsnummer/);
});

it('refuses wrong check digits, impossible dates and other shapes, without repeating the number', () => {
  const good = withCheck('811218987');
  const wrong = good.slice(0, 9) + String((Number(good[9]) + 1) % 10);
  for (const bad of [wrong, withCheck('811318987'), withCheck('810230987'), withCheck('000229123').replace(/^/, '19'), '12345', 'abcdefghij', '', '81121-89876', `20${good.slice(0, 6)}+${good.slice(6)}`]) {
    assert.throws(() => parsePersonnummer(bad, TODAY), (e: Error) => e instanceof PersonnummerError && (bad.length < 6 || !e.message.includes(bad)), bad);
  }
  // 2000-02-29 existed; 1900-02-29 did not.
  assert.equal(parsePersonnummer(`20${withCheck('000229123')}`, TODAY).normalized.slice(0, 8), '20000229');
  assert.throws(() => parsePersonnummer(`19${withCheck('000229123')}`, TODAY), /date of birth/);
});

it('takes the century in which the birth date is not in the future, and refuses impossible years', () => {
  const today = new Date('2026-12-02T00:00:00Z');
  const late = withCheck('261210123'); // 10 December: later this month in 2026, so 1926 (under 100 with "-" is impossible: 100 this month)
  assert.equal(parsePersonnummer(`${late.slice(0, 6)}-${late.slice(6)}`, today).normalized, `19${late}`);
  assert.equal(parsePersonnummer(`19${late}`, today).normalized, `19${late}`, 'both forms give one key');
  const early = withCheck('261110123'); // 10 November 2026 has been
  assert.equal(parsePersonnummer(early, today).normalized, `20${early}`);
  for (const bad of [`20${late}`, `20${withCheck('991231123')}`, `00${withCheck('000101123')}`, `18${withCheck('690101123')}`]) {
    assert.throws(() => parsePersonnummer(bad, today), /not a possible date of birth|not a valid date/, bad);
  }
});
