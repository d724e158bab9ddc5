// The age v1 header: strict parser, encoder and MAC.
//
//   header   = "age-encryption.org/v1" LF 1*stanza "--- " 43base64char LF
//   stanza   = "-> " argument *(SP argument) LF *(64base64char LF) *63base64char LF
//   argument = 1*VCHAR
//
// Invariants:
// - parsing is strict and canonical: every byte is printable ASCII or LF, bodies are
//   canonical unpadded base64 wrapped at exactly 64 columns and end with a short
//   (possibly empty) line, arguments are non-empty VCHAR runs separated by one space;
//   hence the bytes we MAC are the one and only encoding of the parsed header;
// - the MAC is HMAC-SHA-256 keyed with HKDF(file key, salt empty, info "header") over
//   the header bytes up to and including "---" (not the space after it);
// - MACs are compared in constant time;
// - a header holds at most MAX_STANZAS stanzas, so an untrusted file cannot make us
//   run unbounded key agreements before the MAC can be checked.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { hkdf32 } from './aead.ts';
import { decodeB64, encodeB64 } from './b64.ts';
import { SealError } from './errors.ts';

export const VERSION_LINE = 'age-encryption.org/v1';
export const MAX_STANZAS = 256;
/** Upper bound on header size accepted by the incremental decryptor. */
export const MAX_HEADER_BYTES = 1 << 20;

export interface Stanza {
  readonly args: readonly string[];
  readonly body: Buffer;
}

export interface ParsedHeader {
  readonly stanzas: readonly Stanza[];
  /** The header bytes the MAC covers: everything through "---". */
  readonly macInput: Buffer;
  readonly mac: Buffer;
}

const BODY_LINE = /^[A-Za-z0-9+/]*$/;
const FOOTER = /^--- ([A-Za-z0-9+/]{43})$/;
const ARGUMENT = /^[\x21-\x7e]+$/;
const LF = 0x0a;

function malformed(message: string): SealError {
  return new SealError('malformed-header', message);
}

/**
 * Index just past the LF that ends the MAC line, or -1 if `buf` does not yet hold a
 * complete header. `from` lets incremental callers resume the scan.
 */
export function findHeaderEnd(buf: Uint8Array, from = 0): number {
  // The MAC line is the first line starting with "---": no other line can (the
  // version line starts with "age", stanza lines with "->", body lines are base64).
  // `from` must not be past an LF that was not yet ruled out as preceding "---".
  let i = from;
  for (;;) {
    i = buf.indexOf(LF, i);
    if (i < 0 || i + 3 >= buf.length) return -1;
    if (buf[i + 1] === 0x2d && buf[i + 2] === 0x2d && buf[i + 3] === 0x2d) {
      const end = buf.indexOf(LF, i + 1);
      return end < 0 ? -1 : end + 1;
    }
    i += 1;
  }
}

/** Parses exactly one complete header (through the MAC line's LF, nothing after). */
export function parseHeader(bytes: Uint8Array): ParsedHeader {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b !== LF && (b < 0x20 || b > 0x7e)) throw malformed('header contains a byte that is not printable ASCII');
  }
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = raw.toString('latin1');
  if (!text.endsWith('\n')) throw malformed('header does not end with a line feed');
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== VERSION_LINE) {
    throw malformed(lines[0]!.startsWith('age-encryption.org/') ? 'unsupported age format version' : 'not an age file');
  }
  let offset = lines[0].length + 1;
  let i = 1;
  const stanzas: Stanza[] = [];
  for (;;) {
    const line = lines[i];
    if (line === undefined) throw malformed('header ends without a MAC line');
    if (line.startsWith('---')) break;
    if (!line.startsWith('-> ')) throw malformed('expected a stanza or the MAC line');
    if (stanzas.length >= MAX_STANZAS) throw malformed('too many stanzas');
    const args = line.slice(3).split(' ');
    if (!args.every((a) => ARGUMENT.test(a))) throw malformed('stanza has an empty or invalid argument');
    offset += line.length + 1;
    i += 1;
    let b64 = '';
    for (;;) {
      const body = lines[i];
      if (body === undefined) throw malformed('stanza body does not end with a short line');
      if (body.length > 64 || !BODY_LINE.test(body)) throw malformed('stanza body line is not base64 of at most 64 columns');
      b64 += body;
      offset += body.length + 1;
      i += 1;
      if (body.length < 64) break;
    }
    const body = decodeB64(b64);
    if (body === null) throw malformed('stanza body is not canonical base64');
    stanzas.push({ args, body });
  }
  const footer = FOOTER.exec(lines[i]!);
  const mac = footer ? decodeB64(footer[1]!) : null;
  if (mac === null || mac.length !== 32) throw malformed('MAC line is malformed');
  if (i !== lines.length - 1) throw malformed('data after the MAC line');
  if (stanzas.length === 0) throw malformed('header has no stanza');
  return { stanzas, macInput: raw.subarray(0, offset + 3), mac };
}

export function computeHeaderMac(fileKey: Uint8Array, macInput: Uint8Array): Buffer {
  const key = hkdf32(fileKey, Buffer.alloc(0), 'header');
  try {
    return createHmac('sha256', key).update(macInput).digest();
  } finally {
    key.fill(0);
  }
}

export function headerMacMatches(fileKey: Uint8Array, header: ParsedHeader): boolean {
  return timingSafeEqual(computeHeaderMac(fileKey, header.macInput), header.mac);
}

/** Encodes stanzas into a complete header MACed with `fileKey`. */
export function encodeHeader(stanzas: readonly Stanza[], fileKey: Uint8Array): Buffer {
  if (stanzas.length === 0 || stanzas.length > MAX_STANZAS) throw new SealError('bad-options', 'a header needs 1 to 256 stanzas');
  let text = VERSION_LINE + '\n';
  for (const stanza of stanzas) {
    if (stanza.args.length === 0 || !stanza.args.every((a) => ARGUMENT.test(a))) {
      throw new SealError('bad-options', 'stanza arguments must be non-empty VCHAR strings');
    }
    text += '-> ' + stanza.args.join(' ') + '\n';
    const b64 = encodeB64(stanza.body);
    let pos = 0;
    for (; pos + 64 <= b64.length; pos += 64) text += b64.slice(pos, pos + 64) + '\n';
    text += b64.slice(pos) + '\n'; // the short final line, empty if the body fills whole lines
  }
  text += '---';
  const mac = computeHeaderMac(fileKey, Buffer.from(text, 'latin1'));
  return Buffer.from(text + ' ' + encodeB64(mac) + '\n', 'latin1');
}
