// The one error type of the seal module.
//
// Invariant: messages describe what went wrong structurally and never carry key
// material, passphrases, plaintext, file keys or identity strings. Callers may log
// `code` and `message` as they are.

export type SealErrorCode =
  | 'malformed-header' // the age header does not parse (strict, canonical)
  | 'malformed-armor' // the ASCII armor does not parse (strict PEM, canonical base64)
  | 'no-identity-matched' // no stanza could be unwrapped with the given identities/passphrase
  | 'header-mac' // a file key was unwrapped but the header MAC does not verify
  | 'bound-to-other-recording' // the header is not bound (exactly once) to the expected recording
  | 'chunk-auth' // a payload chunk failed authentication or is structurally invalid
  | 'truncated' // the payload ends before its final chunk
  | 'trailing-data' // bytes follow the final chunk
  | 'field-auth' // a sealed metadata field does not open (wrong recording, label or tampered)
  | 'bad-key' // an identity or recipient string is invalid
  | 'bad-range' // readRange arguments (or storage reads) are inconsistent
  | 'bad-recording-id' // a recording ID outside [A-Za-z0-9_-]{1,64}
  | 'bad-options' // contradictory or missing encryption/decryption options
  | 'bad-state'; // a sealer/decryptor used after finish() or destroy()

export class SealError extends Error {
  readonly code: SealErrorCode;

  constructor(code: SealErrorCode, message: string) {
    super(message);
    this.name = 'SealError';
    this.code = code;
  }
}
