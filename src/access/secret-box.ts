// Small secrets the server itself must read back (TOTP seeds) are sealed with
// ChaCha20-Poly1305 under the server's secrets key, kept in the data directory's keys folder,
// never in the catalog. The purpose string is bound in as associated data.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface SecretBox {
  seal(plaintext: Buffer, purpose: string): Buffer;
  open(sealed: Uint8Array, purpose: string): Buffer;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error('secrets key must be 32 bytes');
  return {
    seal(plaintext, purpose) {
      const nonce = randomBytes(12);
      const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
      c.setAAD(Buffer.from(purpose), { plaintextLength: plaintext.length });
      const body = Buffer.concat([c.update(plaintext), c.final()]);
      return Buffer.concat([nonce, body, c.getAuthTag()]);
    },
    open(sealed, purpose) {
      const buf = Buffer.from(sealed);
      if (buf.length < 28) throw new Error('sealed secret is too short');
      const d = createDecipheriv('chacha20-poly1305', key, buf.subarray(0, 12), { authTagLength: 16 });
      d.setAAD(Buffer.from(purpose), { plaintextLength: buf.length - 28 });
      d.setAuthTag(buf.subarray(buf.length - 16));
      return Buffer.concat([d.update(buf.subarray(12, buf.length - 16)), d.final()]);
    },
  };
}
