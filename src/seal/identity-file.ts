// age identity files (the format `age-keygen` writes and `age -i` reads): one
// AGE-SECRET-KEY-1... per line, '#' comments and blank lines ignored.
//
// Invariants: every non-comment line must be a valid X25519 identity, otherwise the
// whole file is rejected with 'bad-key' (the message names the line number only,
// never its content).

import { SealError } from './errors.ts';
import { parseIdentity, recipientOf } from './keys.ts';

export function parseIdentityFile(text: string): string[] {
  const identities: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    try {
      parseIdentity(line);
    } catch {
      throw new SealError('bad-key', `identity file line ${i + 1} is not an age X25519 identity`);
    }
    identities.push(line);
  }
  if (identities.length === 0) throw new SealError('bad-key', 'identity file holds no identity');
  return identities;
}

export function formatIdentityFile(identity: string, created = new Date()): string {
  return `# created: ${created.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n# public key: ${recipientOf(identity)}\n${identity}\n`;
}
