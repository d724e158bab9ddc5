// Test support for the audio inspectors.
import assert from 'node:assert/strict';
import { AudioError } from './audio-error.ts';

/** The AudioError `fn` throws; fails the test if it throws nothing or something else. */
export function errorOf(fn: () => unknown): AudioError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AudioError) return err;
    throw err;
  }
  assert.fail('expected an AudioError');
}
