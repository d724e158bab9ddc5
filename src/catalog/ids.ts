import { randomBytes } from 'node:crypto';

/** A 128-bit random identifier as 32 lowercase hex characters. It says nothing about what it names. */
export function newId(): string {
  return randomBytes(16).toString('hex');
}

export const ID_PATTERN = /^[0-9a-f]{32}$/;

export function isId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}
