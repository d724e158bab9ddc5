import { createHash } from 'node:crypto';

/** SHA-256 as lowercase hex: how random tokens (sessions, enrollment links, API keys) are stored. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
