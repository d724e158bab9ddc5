// The words for a failed request, in the person's language. The server answers in English, with
// a machine-readable code where a client acts on it; here codes and the server's known messages
// map to strings of both languages, and anything else to a sentence for its status (in English
// with the server's own words, which are English).
import { ApiError } from './api';
import type { T } from './context';
import type { Key } from './i18n';

const CODES: Record<string, Key> = {
  step_up_required: 'error.code.step_up_required',
  break_glass_available: 'error.code.break_glass_available',
  number_in_url: 'error.code.number_in_url',
  rate_limited: 'error.tooMany',
};

// The server's messages a person meets in this app, by a distinctive part of their text.
const MESSAGES: Array<[RegExp, Key]> = [
  [/^user \S+ already exists$/, 'error.msg.userExists'],
  [/would leave no active administrator/, 'error.msg.lastAdmin'],
  [/cannot change your own roles/, 'error.msg.ownRoles'],
  [/supervisor needs at least one care unit/, 'error.msg.supervisorUnits'],
  [/agent needs the agent id/, 'error.msg.agentId'],
  [/has already enrolled/, 'error.msg.alreadyEnrolled'],
  [/^user \S+ is not disabled$/, 'error.msg.notDisabled'],
  [/signs? in through single sign-on/, 'error.msg.sso'],
  [/is disabled; enable them first/, 'error.msg.disabledFirst'],
  [/enrollment link (is unknown|was just used)/, 'error.msg.enrollLink'],
  [/authenticator code is not valid/, 'error.msg.totpInvalid'],
  [/password/i, 'error.msg.password'],
  [/is not an IP address or CIDR range/, 'error.msg.cidr'],
  [/key name is 1 to 64/, 'error.msg.keyName'],
  [/key rate is a whole number/, 'error.msg.keyRate'],
  [/under legal hold/, 'error.msg.legalHold'],
  [/recipient must be an age/, 'error.msg.ageRecipient'],
  [/phone number|E\.164|Swedish national/, 'error.msg.phone'],
  // Every refusal of a personnummer: its shape, its separator, its date and its check digit.
  [/personnummer|the \+ separator|date of birth|check digit/, 'error.msg.personnummer'],
  [/already hold emergency access/, 'error.msg.grantLive'],
  [/within your scope already/, 'error.msg.inScope'],
  [/reviewed already/, 'error.msg.reviewed'],
  [/has no audio/, 'error.msg.synthetic'],
  [/at most \d+ passkeys/, 'error.msg.tooManyPasskeys'],
  [/you have no passkey/, 'stepUp.noPasskey'],
  [/^not permitted$/, 'error.msg.notPermitted'],
];

const STATUSES: Record<number, Key> = { 400: 'error.status.400', 403: 'error.status.403', 404: 'error.status.404', 409: 'error.status.409' };

/** The key for an API error, when one is known (exported for the tests of the mapping). */
function errorKey(e: ApiError): Key | undefined {
  if (e.code && CODES[e.code]) return CODES[e.code];
  if (e.status === 429) return 'error.tooMany';
  if (e.status === 503) return 'error.unavailable';
  if (e.status === 401) return 'error.notAccepted';
  return MESSAGES.find(([re]) => re.test(e.message))?.[1];
}

/** The words to show for a failed request. */
export function errorText(t: T, e: unknown): string {
  if (e instanceof ApiError) {
    const key = errorKey(e);
    if (key) return t(key);
    if (!e.message) return t('error.generic');
    return t(STATUSES[e.status] ?? 'error.status.other', { detail: e.message.replace(/[.;:]+$/, '') });
  }
  if (e instanceof TypeError) return t('error.network');
  if (e instanceof DOMException && e.name === 'NotAllowedError') return t('passkey.cancelled');
  return t('error.generic');
}
