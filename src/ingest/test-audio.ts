// Test support for the audio inspectors.
import assert from 'node:assert/strict';
import { AudioError } from './audio-error.ts';

/** The error of class `kind` (AudioError by default) that `fn` throws; fails the test if it throws nothing or something else. */
export function errorOf<E extends AudioError = AudioError>(fn: () => unknown, kind: abstract new (...args: never[]) => E = AudioError as never): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof kind) return err;
    throw err;
  }
  assert.fail(`expected a ${kind.name}`);
}

/**
 * Feeds `bytes` one at a time to `inspector`; returns how many had been fed when feed() threw an
 * error of class `kind`, or -1 if none did.
 */
export function failsAtByte(inspector: { feed(piece: Uint8Array): void }, bytes: Uint8Array, kind: abstract new (...args: never[]) => AudioError = AudioError): number {
  for (let i = 0; i < bytes.length; i++) {
    try {
      inspector.feed(bytes.subarray(i, i + 1));
    } catch (err) {
      assert.ok(err instanceof kind, `expected a ${kind.name}, got ${String(err)}`);
      return i + 1;
    }
  }
  return -1;
}
