// Signed tree heads: C2SP tlog-checkpoint bodies inside C2SP signed notes, Ed25519 only.
//
// Invariants (from c2sp.org/signed-note and c2sp.org/tlog-checkpoint):
// - note = text (ends in "\n") || "\n" || one or more "— <key name> <base64(key ID || sig)>\n".
//   The signature covers exactly the text, including its final newline.
// - key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4], big-endian.
// - verifier key = "<key name>+<8 hex key ID>+<base64(0x01 || public key)>".
// - Key names are non-empty, with no Unicode space and no "+".
// - Signatures from keys we do not know (name and ID) are ignored; one from a known key that
//   fails to verify rejects the whole note; a note with no verified known signature is rejected.
// - checkpoint text = origin "\n" size "\n" base64(root) "\n" [extension lines, non-empty].
//   The size is canonical decimal (no sign, no leading zero, no spaces).
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

export const MAX_NOTE_BYTES = 64 * 1024;
export const MAX_SIGNATURES = 64;
const ED25519 = 0x01;
const EM_DASH_SPACE = '\u2014 ';

export type CheckpointErrorReason =
  | 'too_long'
  | 'malformed_note'
  | 'malformed_checkpoint'
  | 'bad_base64'
  | 'bad_size'
  | 'bad_key'
  | 'unknown_key'
  | 'bad_signature';

export class CheckpointError extends Error {
  readonly reason: CheckpointErrorReason;
  constructor(reason: CheckpointErrorReason, message: string) {
    super(`checkpoint: ${message}`);
    this.name = 'CheckpointError';
    this.reason = reason;
  }
}

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  /** Opaque extension lines (not recommended by the spec); usually empty. */
  extensions: string[];
}

function fail(reason: CheckpointErrorReason, message: string): never {
  throw new CheckpointError(reason, message);
}

/** Strict standard base64 (RFC 4648 section 4): canonical padding, no whitespace. */
function decodeBase64(s: string, what: string): Buffer {
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) fail('bad_base64', `${what} is not base64`);
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) fail('bad_base64', `${what} is not canonical base64`);
  return b;
}

function isValidKeyName(name: string): boolean {
  // \s covers the Unicode White_Space set; control characters are refused as well.
  return name.length > 0 && !/[\s+\p{Cc}]/u.test(name) && name.isWellFormed();
}

function rawPublicKey(publicKey: KeyObject): Buffer {
  if (publicKey.asymmetricKeyType !== 'ed25519') fail('bad_key', 'only Ed25519 keys are supported');
  const x = publicKey.export({ format: 'jwk' }).x;
  if (typeof x !== 'string') fail('bad_key', 'cannot export the public key');
  return Buffer.from(x, 'base64url');
}

/** The 4-byte signed-note key ID of an Ed25519 key. */
export function keyId(keyName: string, publicKey: KeyObject): Buffer {
  if (!isValidKeyName(keyName)) fail('bad_key', 'key names must be non-empty, without spaces or "+"');
  return createHash('sha256')
    .update(keyName, 'utf8')
    .update(Uint8Array.of(0x0a, ED25519))
    .update(rawPublicKey(publicKey))
    .digest()
    .subarray(0, 4);
}

/** The verifier key string "<name>+<hex key ID>+<base64(0x01 || public key)>". */
export function verifierKey(keyName: string, publicKey: KeyObject): string {
  const id = keyId(keyName, publicKey).toString('hex');
  const enc = Buffer.concat([Uint8Array.of(ED25519), rawPublicKey(publicKey)]).toString('base64');
  return `${keyName}+${id}+${enc}`;
}

interface Verifier {
  name: string;
  id: Buffer;
  key: KeyObject;
}

function parseVerifierKey(vkey: string): Verifier {
  // The base64 key may itself contain "+", so split at the first two only.
  const a = vkey.indexOf('+');
  const b = a < 0 ? -1 : vkey.indexOf('+', a + 1);
  if (b < 0) fail('bad_key', 'verifier key must be "<name>+<hex id>+<base64 key>"');
  const name = vkey.slice(0, a);
  const idHex = vkey.slice(a + 1, b);
  const keyB64 = vkey.slice(b + 1);
  if (!isValidKeyName(name)) fail('bad_key', 'verifier key has an invalid key name');
  if (!/^[0-9a-f]{8}$/.test(idHex)) fail('bad_key', 'verifier key ID must be 8 lowercase hex digits');
  const raw = decodeBase64(keyB64, 'verifier key');
  if (raw.length !== 33 || raw[0] !== ED25519) fail('bad_key', 'verifier key is not an Ed25519 key');
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(1).toString('base64url') }, format: 'jwk' });
  const id = keyId(name, key);
  if (id.toString('hex') !== idHex) fail('bad_key', 'verifier key ID does not match its name and key');
  return { name, id, key };
}

/** Checkpoint body text (the signed part). */
export function formatCheckpoint(c: { origin: string; size: number; rootHash: Uint8Array; extensions?: readonly string[] }): string {
  if (c.origin.length === 0 || /[\p{Cc}]/u.test(c.origin) || !c.origin.isWellFormed()) fail('malformed_checkpoint', 'origin must be a non-empty line');
  if (!Number.isSafeInteger(c.size) || c.size < 0) fail('bad_size', 'tree size must be a non-negative safe integer');
  if (c.rootHash.length !== 32) fail('malformed_checkpoint', 'root hash must be 32 bytes');
  for (const e of c.extensions ?? []) {
    if (e.length === 0 || /[\p{Cc}]/u.test(e) || !e.isWellFormed()) fail('malformed_checkpoint', 'extension lines must be non-empty lines');
  }
  const lines = [c.origin, String(c.size), Buffer.from(c.rootHash).toString('base64'), ...(c.extensions ?? [])];
  return lines.map((l) => `${l}\n`).join('');
}

/** Parses checkpoint body text (already authenticated by the caller). */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) fail('malformed_checkpoint', 'text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) fail('malformed_checkpoint', 'expected origin, size and root hash lines');
  const [origin, sizeText, rootText, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) fail('malformed_checkpoint', 'origin is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) fail('bad_size', 'tree size is not canonical decimal');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) fail('bad_size', 'tree size is too large');
  const rootHash = decodeBase64(rootText, 'root hash');
  if (rootHash.length !== 32) fail('malformed_checkpoint', 'root hash must be 32 bytes');
  if (extensions.some((e) => e.length === 0)) fail('malformed_checkpoint', 'empty line in checkpoint text');
  return { origin, size, rootHash, extensions };
}

/** Signs `text` as a signed note with one Ed25519 signature line. */
export function signNote(text: string, privateKey: KeyObject, keyName: string): string {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') fail('bad_key', 'an Ed25519 private key is required');
  checkNoteChars(text);
  if (!text.endsWith('\n')) fail('malformed_note', 'note text must end in a newline');
  const id = keyId(keyName, createPublicKey(privateKey));
  const sig = sign(null, Buffer.from(text, 'utf8'), privateKey);
  const line = `${EM_DASH_SPACE}${keyName} ${Buffer.concat([id, sig]).toString('base64')}\n`;
  const note = `${text}\n${line}`;
  if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) fail('too_long', `note exceeds ${MAX_NOTE_BYTES} bytes`);
  return note;
}

function checkNoteChars(s: string): void {
  if (!s.isWellFormed()) fail('malformed_note', 'note is not valid UTF-8');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(s)) fail('malformed_note', 'note contains control characters');
}

/**
 * Verifies a signed note against one or more verifier keys and returns its text.
 * Throws CheckpointError unless at least one known key signed it and every signature
 * from a known key verifies.
 */
export function openNote(note: string | Uint8Array, vkeys: string | readonly string[]): string {
  const byteLength = typeof note === 'string' ? Buffer.byteLength(note, 'utf8') : note.length;
  if (byteLength > MAX_NOTE_BYTES) fail('too_long', `note exceeds ${MAX_NOTE_BYTES} bytes`);
  let s: string;
  if (typeof note === 'string') {
    s = note;
  } else {
    try {
      s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note);
    } catch {
      fail('malformed_note', 'note is not valid UTF-8');
    }
  }
  const verifiers = (typeof vkeys === 'string' ? [vkeys] : vkeys).map(parseVerifierKey);
  checkNoteChars(s);
  if (!s.endsWith('\n')) fail('malformed_note', 'note must end in a newline');
  const split = s.lastIndexOf('\n\n');
  if (split < 0) fail('malformed_note', 'no blank line before the signatures');
  const text = s.slice(0, split + 1);
  const sigLines = s.slice(split + 2, -1).split('\n');
  if (sigLines.length > MAX_SIGNATURES) fail('too_long', `more than ${MAX_SIGNATURES} signatures`);
  const message = Buffer.from(text, 'utf8');
  const seen = new Set<Verifier>();
  for (const line of sigLines) {
    if (!line.startsWith(EM_DASH_SPACE)) fail('malformed_note', 'signature line must start with an em dash and a space');
    const rest = line.slice(EM_DASH_SPACE.length);
    const space = rest.indexOf(' ');
    if (space < 0) fail('malformed_note', 'signature line has no signature');
    const name = rest.slice(0, space);
    if (!isValidKeyName(name)) fail('malformed_note', 'signature line has an invalid key name');
    const blob = decodeBase64(rest.slice(space + 1), 'signature');
    if (blob.length < 5) fail('malformed_note', 'signature is too short');
    const id = blob.subarray(0, 4);
    const v = verifiers.find((k) => k.name === name && k.id.equals(id));
    if (!v) continue; // unknown key: ignored, as the spec requires
    if (seen.has(v)) fail('malformed_note', `two signatures from key ${name}`);
    seen.add(v);
    const sig = blob.subarray(4);
    if (sig.length !== 64 || !verify(null, message, v.key, sig)) fail('bad_signature', `signature by ${name} does not verify`);
  }
  if (seen.size === 0) fail('unknown_key', 'no signature from a known key');
  return text;
}

/** Signs a checkpoint; the key name defaults to the origin, as the spec recommends. */
export function signCheckpoint(args: {
  origin: string;
  size: number;
  rootHash: Uint8Array;
  extensions?: readonly string[];
  privateKey: KeyObject;
  keyName?: string;
}): string {
  return signNote(formatCheckpoint(args), args.privateKey, args.keyName ?? args.origin);
}

/** Verifies a signed checkpoint note and returns its parsed body. */
export function verifyCheckpoint(note: string | Uint8Array, vkeys: string | readonly string[]): Checkpoint {
  return parseCheckpoint(openNote(note, vkeys));
}
