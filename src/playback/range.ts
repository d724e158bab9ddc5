// HTTP Range (RFC 9110 14.1.2) for a single byte range. Anything this server does not serve as
// a range (several ranges, other units, bad syntax) is ignored and the whole body is sent, as
// the RFC allows; a range that starts past the end is unsatisfiable.
export type RangeResult = { kind: 'none' } | { kind: 'unsatisfiable' } | { kind: 'range'; start: number; end: number };

/** `end` is exclusive. */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'none' };
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? size - 1 : Number(m[2]);
  if (start >= size) return { kind: 'unsatisfiable' };
  if (last < start) return { kind: 'none' };
  return { kind: 'range', start, end: Math.min(last, size - 1) + 1 };
}
