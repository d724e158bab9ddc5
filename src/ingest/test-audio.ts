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
