// Binding a sealed header to one callvault recording.
//
// A recording's header carries, besides its recipient stanza(s), exactly one stanza
// "-> callvault-recording <recordingId>" with an empty body. Stock age ignores the
// unknown stanza type, so exports still decrypt with `age -d`; the header MAC covers
// it, so it cannot be edited without the file key.
//
// Invariants:
// - recording IDs are 1..64 characters of [A-Za-z0-9_-] (so they are valid arguments);
// - a header opened for recording R must hold exactly one binding stanza, with exactly
//   the arguments [type, R] and an empty body; otherwise 'bound-to-other-recording';
// - the binding is checked only after the header MAC verified (see unwrapFileKey), so
//   'bound-to-other-recording' always reports an authentic header of another recording.

import { SealError } from './errors.ts';
import type { Stanza } from './header.ts';

export const RECORDING_STANZA_TYPE = 'callvault-recording';
const RECORDING_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function checkRecordingId(recordingId: string): void {
  if (typeof recordingId !== 'string' || !RECORDING_ID.test(recordingId)) {
    throw new SealError('bad-recording-id', 'recording ID must be 1..64 characters of [A-Za-z0-9_-]');
  }
}

export function bindingStanza(recordingId: string): Stanza {
  checkRecordingId(recordingId);
  return { args: [RECORDING_STANZA_TYPE, recordingId], body: Buffer.alloc(0) };
}

export function checkBinding(stanzas: readonly Stanza[], recordingId: string): void {
  checkRecordingId(recordingId);
  const bindings = stanzas.filter((s) => s.args[0] === RECORDING_STANZA_TYPE);
  if (bindings.length !== 1) {
    throw new SealError('bound-to-other-recording', 'header is not bound to exactly one recording');
  }
  const [binding] = bindings;
  if (binding!.args.length !== 2 || binding!.args[1] !== recordingId || binding!.body.length !== 0) {
    throw new SealError('bound-to-other-recording', 'header is bound to a different recording');
  }
}
