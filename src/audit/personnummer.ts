// Swedish personal identity numbers (personnummer, Skatteverket SKV 704) and coordination
// numbers (samordningsnummer, SKV 707: day of birth + 60), validated and normalized to twelve
// digits YYYYMMDDNNNC. Errors never repeat the number.

export class PersonnummerError extends Error {}

function luhnOk(tenDigits: string): boolean {
  let sum = 0;
  for (let i = 0; i < 10; i++) {
    let d = Number(tenDigits[i]) * (i % 2 === 0 ? 2 : 1);
    if (d > 9) d -= 9;
    sum += d;
  }
  return sum % 10 === 0;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** No one born before this calls an advice line. */
const EARLIEST_YEAR = 1870;

export interface Personnummer {
  /** Twelve digits, YYYYMMDDNNNC. */
  normalized: string;
  kind: 'personnummer' | 'samordningsnummer';
}

/**
 * Accepts YYMMDD-NNNC, YYMMDD+NNNC (a hundred years or older), YYMMDDNNNC, YYYYMMDDNNNC and
 * YYYYMMDD-NNNC. `today` decides the century of ten-digit forms.
 */
export function parsePersonnummer(input: string, today = new Date()): Personnummer {
  if (typeof input !== 'string' || input.length > 20) throw new PersonnummerError('a personnummer is 10 or 12 digits');
  const m = /^(\d{2})?(\d{2})(\d{2})(\d{2})([-+]?)(\d{3})(\d)$/.exec(input.trim());
  if (!m) throw new PersonnummerError('a personnummer reads YYMMDD-NNNC or YYYYMMDDNNNC');
  const [, cc, yy, mm, dd, sep, nnn, c] = m as unknown as [string, string | undefined, string, string, string, string, string, string];
  const month = Number(mm);
  let day = Number(dd);
  const kind = day > 60 ? 'samordningsnummer' : 'personnummer';
  if (kind === 'samordningsnummer') day -= 60;
  const born = (y: number) => Date.UTC(y, month - 1, day);
  let year: number;
  if (cc !== undefined) {
    if (sep === '+') throw new PersonnummerError('the + separator belongs to the ten-digit form only');
    year = Number(cc + yy);
  } else {
    // The latest century in which the birth date is not in the future (with "-": under a
    // hundred years old); "+" (a hundred or older) takes the one before.
    const thisYear = today.getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + Number(yy);
    if (month >= 1 && month <= 12 && born(year) > today.getTime()) year -= 100;
    if (sep === '+') year -= 100;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) {
    throw new PersonnummerError(kind === 'samordningsnummer' ? 'not a valid date of birth (a samordningsnummer adds 60 to the day)' : 'not a valid date of birth');
  }
  if (year < EARLIEST_YEAR || born(year) > today.getTime()) throw new PersonnummerError('not a possible date of birth (in the future, or too long ago)');
  if (!luhnOk(`${yy}${mm}${dd}${nnn}${c}`)) throw new PersonnummerError('the check digit does not match (Luhn)');
  return { normalized: `${String(year).padStart(4, '0')}${mm}${dd}${nnn}${c}`, kind };
}
