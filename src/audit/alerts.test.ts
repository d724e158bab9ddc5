import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConfigError } from '../config/config.ts';
import { DEFAULT_RULES, outsideHours, rulesFromEnv } from './alerts.ts';

it('working hours across midnight wrap: 22-06 is the night shift', () => {
  const night = { from: 22, to: 6 };
  assert.deepEqual([21, 22, 23, 0, 5, 6, 12].map((h) => outsideHours(h, night)), [true, false, false, false, false, true, true]);
  const day = { from: 7, to: 18 };
  assert.deepEqual([6, 7, 12, 17, 18, 23].map((h) => outsideHours(h, day)), [true, false, false, false, true, true]);
  assert.deepEqual([0, 15, 16, 23].map((h) => outsideHours(h, { from: 15, to: 3 })), [false, false, false, false]);
  assert.equal(outsideHours(4, { from: 15, to: 3 }), true);
});

it('reads the alert settings, and refuses those that would silently turn a rule off', () => {
  assert.deepEqual(rulesFromEnv({}), DEFAULT_RULES);
  assert.deepEqual(rulesFromEnv({ CALLVAULT_ALERT_PLAYS_PER_HOUR: '', CALLVAULT_ALERT_DENIALS: '' }), DEFAULT_RULES, 'empty is unset');
  const r = rulesFromEnv({ CALLVAULT_ALERT_PLAYS_PER_HOUR: '10', CALLVAULT_ALERT_WORKING_HOURS: '22-06', CALLVAULT_ALERT_TIMEZONE: 'Europe/Oslo', CALLVAULT_ALERT_DENIALS: '3' });
  assert.deepEqual(r, { playsPerHour: 10, denialsPer10Min: 3, workingHours: { from: 22, to: 6, timeZone: 'Europe/Oslo' }, webhook: null });
  assert.deepEqual(rulesFromEnv({ CALLVAULT_ALERT_WORKING_HOURS: '0-24' }).workingHours, { from: 0, to: 24, timeZone: 'Europe/Stockholm' });
  for (const [env, why] of [
    [{ CALLVAULT_ALERT_PLAYS_PER_HOUR: 'ten' }, /PLAYS_PER_HOUR must be a whole number/],
    [{ CALLVAULT_ALERT_PLAYS_PER_HOUR: '0' }, /PLAYS_PER_HOUR must be a whole number of at least 1/],
    [{ CALLVAULT_ALERT_DENIALS: '-3' }, /DENIALS must be a whole number/],
    [{ CALLVAULT_ALERT_WORKING_HOURS: '07:00-18:00' }, /WORKING_HOURS must read FROM-TO/],
    [{ CALLVAULT_ALERT_WORKING_HOURS: '25-99' }, /WORKING_HOURS must read FROM-TO/],
    [{ CALLVAULT_ALERT_WORKING_HOURS: '8-8' }, /WORKING_HOURS must read FROM-TO/],
    [{ CALLVAULT_ALERT_WORKING_HOURS: '07-18', CALLVAULT_ALERT_TIMEZONE: 'Mars/Olympus' }, /not a time zone/],
    [{ CALLVAULT_ALERT_WEBHOOK: 'ftp://x' }, /http\(s\) URL/],
  ] as const) {
    assert.throws(() => rulesFromEnv(env), (e: Error) => e instanceof ConfigError && why.test(e.message), JSON.stringify(env));
  }
});
