// Public API of the seal module: age v1 (age-encryption.org/v1) sealing of callvault
// recordings. This module imports nothing from elsewhere in src/ and no npm runtime
// package: only node:crypto.
//
// Module-wide invariants (each file states its own in detail):
// - no plaintext byte is released before the chunk holding it authenticated;
// - no file key is used for a payload before the header MAC verified;
// - recording headers are bound to their recording ID under the MAC;
// - parsing is strict and canonical everywhere (header, armor, Bech32, base64);
// - SealError messages never contain key material or plaintext.

export { SealError } from './errors.ts';
export type { SealErrorCode } from './errors.ts';
export { CHUNK_SIZE, NONCE_SIZE as PAYLOAD_NONCE_SIZE, payloadSize, plaintextSize, sealedBound } from './stream.ts';
export { generateIdentity, recipientOf } from './keys.ts';
export { beginSeal, openRecording, resumeSeal, rewrapRecordingHeader } from './recording.ts';
export type { OpenedRecording, ReadRangeOptions, RecordingSealer } from './recording.ts';
export { AgeDecryptor, decryptFile, decryptStream, encryptFile } from './age.ts';
export type { DecryptOptions, EncryptOptions } from './age.ts';
export { decodeArmor, encodeArmor } from './armor.ts';
export { formatIdentityFile, parseIdentityFile } from './identity-file.ts';
