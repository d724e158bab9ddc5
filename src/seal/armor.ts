// ASCII armor for age files: strict PEM (RFC 7468 section 3) with the case-sensitive
// label "AGE ENCRYPTED FILE" and canonical padded base64.
//
// Invariants:
// - only whitespace may surround the PEM block; lines end with LF or CRLF;
// - no PEM headers, no empty lines, no whitespace inside lines;
// - every base64 line but the last holds exactly 64 columns; the last holds 1..64;
// - the base64 is canonical and padded, so each file has exactly one armored form
//   (up to the tolerated surrounding whitespace and line-ending style).

import { decodeB64Padded } from './b64.ts';
import { SealError } from './errors.ts';

const BEGIN = '-----BEGIN AGE ENCRYPTED FILE-----';
const END = '-----END AGE ENCRYPTED FILE-----';
const COLUMNS = 64;
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d]);

function bad(message: string): SealError {
  return new SealError('malformed-armor', message);
}

export function encodeArmor(data: Uint8Array): Buffer {
  const b64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
  const lines = [BEGIN];
  for (let i = 0; i < b64.length; i += COLUMNS) lines.push(b64.slice(i, i + COLUMNS));
  lines.push(END, '');
  return Buffer.from(lines.join('\n'), 'latin1');
}

/** True if `data` looks armored: after leading whitespace it starts with "-----BEGIN". */
export function isArmored(data: Uint8Array): boolean {
  let i = 0;
  while (i < data.length && WHITESPACE.has(data[i]!)) i++;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).subarray(i, i + 10).toString('latin1') === '-----BEGIN';
}

export function decodeArmor(data: Uint8Array): Buffer {
  let start = 0;
  let end = data.length;
  while (start < end && WHITESPACE.has(data[start]!)) start++;
  while (end > start && WHITESPACE.has(data[end - 1]!)) end--;
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).subarray(start, end).toString('latin1');
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (lines[0] !== BEGIN) throw bad('armor does not start with the age BEGIN line');
  if (lines.length < 2 || lines[lines.length - 1] !== END) throw bad('armor does not end with the age END line');
  const body = lines.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const len = body[i]!.length;
    const last = i === body.length - 1;
    if (last ? len === 0 || len > COLUMNS : len !== COLUMNS) throw bad('armor line has the wrong length');
  }
  const decoded = decodeB64Padded(body.join(''));
  if (decoded === null) throw bad('armor body is not canonical padded base64');
  return decoded;
}
