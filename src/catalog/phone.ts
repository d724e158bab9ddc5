// Phone numbers arrive in many shapes; callvault keeps one: E.164 ("+46701234567").
// Errors never repeat the number: it is personal data.

export class PhoneNumberError extends Error {}

const SEPARATORS = /[\s\-().\u00a0/]/g;

/**
 * Normalizes an E.164 number or a Swedish national number to E.164.
 * Accepted: "+46 70-123 45 67", "0046701234567", "070-123 45 67", "08-123 456 78".
 */
export function toE164(input: string): string {
  if (typeof input !== 'string' || input.length === 0 || input.length > 40) {
    throw new PhoneNumberError('phone number must be 1 to 40 characters');
  }
  const trimmed = input.trim();
  // "+46 (0)70 ...": in international form, a trunk prefix in brackets is not dialled.
  const international = trimmed.startsWith('+') || trimmed.startsWith('00');
  const compact = (international ? trimmed.replace(/\(0\)/g, '') : trimmed).replace(SEPARATORS, '');
  let e164: string;
  if (compact.startsWith('+')) e164 = compact;
  else if (compact.startsWith('00')) e164 = `+${compact.slice(2)}`;
  else if (compact.startsWith('0')) {
    // Swedish national form: trunk prefix 0, then area code or mobile prefix and subscriber number.
    const national = compact.slice(1);
    if (!/^[1-9]\d{6,8}$/.test(national)) {
      throw new PhoneNumberError('not a valid Swedish national number (0 followed by 7 to 9 digits)');
    }
    e164 = `+46${national}`;
  } else {
    throw new PhoneNumberError('phone number must be in E.164 (+46...) or Swedish national form (0...)');
  }
  // No Swedish number has a 0 after the country code: "+46 070..." is the trunk prefix written along.
  if (e164.startsWith('+460')) e164 = `+46${e164.slice(4)}`;
  if (!/^\+[1-9]\d{6,14}$/.test(e164)) {
    throw new PhoneNumberError('not a valid E.164 number (+ and 7 to 15 digits, no leading zero)');
  }
  return e164;
}
