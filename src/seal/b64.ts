// Canonical base64 as age uses it (RFC 4648 section 4 alphabet).
//
// Invariants:
// - the header uses unpadded base64; decoders reject '=' and any encoding whose unused
//   trailing bits are not zero (non-canonical), so every byte string has exactly one
//   accepted textual form and the header MAC covers a unique encoding;
// - the armor uses padded base64, also canonical.

const UNPADDED = /^[A-Za-z0-9+/]*$/;
const PADDED = /^[A-Za-z0-9+/]*={0,2}$/;

export function encodeB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

/** Decodes canonical unpadded base64; returns null if the text is not exactly that. */
export function decodeB64(text: string): Buffer | null {
  if (!UNPADDED.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64');
  // Re-encoding detects non-zero unused bits (e.g. "...Z" instead of "...Y").
  return encodeB64(bytes) === text ? bytes : null;
}

/** Decodes canonical padded base64 (length a multiple of 4); null if not exactly that. */
export function decodeB64Padded(text: string): Buffer | null {
  if (text.length % 4 !== 0 || !PADDED.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}
