// Password hashing with argon2id from node:crypto, in PHC string form.
// Parameters follow OWASP's current minimum for argon2id: 19 MiB, 2 passes, 1 lane.
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const PARAMS = { memory: 19456, passes: 2, parallelism: 1, tagLength: 32 } as const;

function derive(password: string, salt: Buffer, p: { memory: number; passes: number; parallelism: number; tagLength: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    argon2('argon2id', { message: password, nonce: salt, ...p }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const tag = await derive(password, salt, PARAMS);
  return `$argon2id$v=19$m=${PARAMS.memory},t=${PARAMS.passes},p=${PARAMS.parallelism}$${b64(salt)}$${b64(tag)}`;
}

const PHC = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,})\$([A-Za-z0-9+/]{16,})$/;

export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const m = PHC.exec(phc);
  if (!m) return false;
  const expected = Buffer.from(m[5]!, 'base64');
  const tag = await derive(password, Buffer.from(m[4]!, 'base64'), {
    memory: Number(m[1]), passes: Number(m[2]), parallelism: Number(m[3]), tagLength: expected.length,
  });
  return timingSafeEqual(tag, expected);
}

/** A hash of a random password, checked when the user is unknown so both paths cost the same. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(18).toString('base64'));
  return decoy;
}

let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set(readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')));
  return common;
}

/** What is wrong with a new password, in words a person can act on; null when it is acceptable. */
export function passwordProblem(password: unknown, username?: string): string | null {
  if (typeof password !== 'string') return 'password must be a string';
  if ([...password].length < 12) return 'password must be at least 12 characters';
  if (password.length > 256) return 'password must be at most 256 characters';
  const lower = password.normalize('NFKC').toLowerCase();
  // A common word with digits or symbols around it ("Sommar2024!!") is still a common word.
  const core = lower.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
  const list = commonPasswords();
  if (list.has(lower) || list.has(core) || list.has(lower.replace(/[^\p{L}\p{N}]/gu, ''))) {
    return 'this password is on the list of common passwords; choose a longer phrase of your own';
  }
  if (new Set(lower).size < 5) return 'this password repeats too few different characters';
  if (username && username.length >= 3 && lower.includes(username.toLowerCase())) return 'the password must not contain the username';
  return null;
}
