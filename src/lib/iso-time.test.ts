import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseIsoDateTime, parseIsoInstant } from './iso-time.ts';

it('reads real dates and date-times with their offset', () => {
  assert.equal(parseIsoDateTime('2026-11-25T08:30:00Z'), Date.UTC(2026, 10, 25, 8, 30));
  assert.equal(parseIsoDateTime('2026-11-25T08:30Z'), Date.UTC(2026, 10, 25, 8, 30));
  assert.equal(parseIsoDateTime('2026-11-25T09:30:00.123+01:00'), Date.UTC(2026, 10, 25, 8, 30, 0, 123));
  assert.equal(parseIsoDateTime('2026-11-25T03:30:00-0500'), Date.UTC(2026, 10, 25, 8, 30));
  assert.equal(parseIsoDateTime('2028-02-29T00:00:00Z'), Date.UTC(2028, 1, 29));
  assert.equal(parseIsoDateTime(new Date(1_795_000_000_123).toISOString()), 1_795_000_000_123);
  assert.equal(parseIsoInstant('2026-12-01'), Date.UTC(2026, 11, 1));
  assert.equal(parseIsoInstant('2026-12-01T10:00:00Z'), Date.UTC(2026, 11, 1, 10));
});

it('refuses days and times that do not exist, and loose forms Date.parse would take', () => {
  for (const v of ['2026-02-30T08:30:00Z', '2026-02-29T08:30:00Z', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z',
    '2026-11-25T24:00:00Z', '2026-11-25T08:60:00Z', '2026-11-25T08:30:60Z', '2026-11-25T08:30:00+15:00', '2026-11-25T08:30:00+01:60',
    '2026-11-25T08:30:00', '2026-11-25 08:30:00Z', 'November 25, 2026', '1', '', '2026-11-25T08:30:00z']) {
    assert.equal(parseIsoDateTime(v), null, v);
  }
  for (const v of ['2026-02-30', '2025-02-29', '2026-11-31', 'March 7', '2026-1-5', '12/01/2026']) assert.equal(parseIsoInstant(v), null, v);
});
