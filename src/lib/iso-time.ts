// Strict ISO 8601 instants for the API: a date (taken as the start of that UTC day) or a
// date-time with its offset from UTC. Unlike Date.parse, which takes many loose forms and rolls
// impossible dates over (2026-02-30 becomes 2 March), a value that names no real day or time
// is refused.
import { z } from 'zod';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** An ISO 8601 date-time with its offset from UTC, as a shape (parseIsoDateTime says whether it is a real one). */
export const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))$/;

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

function dayOk(y: number, m: number, d: number): boolean {
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m);
}

/** A date-time with its offset (Z, +01:00, -0500...), in ms since the epoch; null if it is no real instant. */
export function parseIsoDateTime(v: string): number | null {
  const m = DATE_TIME.exec(v);
  if (!m) return null;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const s = m[6] === undefined ? 0 : Number(m[6]);
  if (!dayOk(y, mo, d) || h > 23 || mi > 59 || s > 59) return null;
  let offset = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 14 || om > 59) return null;
    offset = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const ms = m[7] === undefined ? 0 : Math.floor(Number(`0.${m[7]}`) * 1000);
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - offset * 60_000;
}

/** A date (the start of that day, UTC) or a date-time with its offset; null if neither. */
export function parseIsoInstant(v: string): number | null {
  const m = DATE.exec(v);
  if (!m) return parseIsoDateTime(v);
  const [y, mo, d] = [m[1], m[2], m[3]].map(Number) as [number, number, number];
  return dayOk(y, mo, d) ? Date.UTC(y, mo - 1, d) : null;
}

/** An API filter bound: a date or a date-time, checked as above (read it with parseIsoInstant). */
export const isoInstant = z.string().max(64).refine((v) => parseIsoInstant(v) !== null,
  'must be a real ISO 8601 date (2026-11-25) or date-time with its offset (2026-11-25T08:30:00Z)');
