// Key provider, local-file flavour: every key of an archive lives in DATA/keys (0700),
// one file each (0600). The archive identity is a standard age identity file, so an operator
// can decrypt an export with the stock `age -d -i` tool.
import { generateKeyPairSync, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileDurableSync, fsyncDirSync } from '../lib/fsync-dir.ts';
import { formatIdentityFile, generateIdentity, parseIdentityFile, recipientOf } from '../seal/index.ts';

export interface KeyProvider {
  /** Public: what ingest seals to. */
  readonly archiveRecipient: string;
  /** Private: only playback and export may ask for it. */
  archiveIdentity(): string;
  auditSigningKey(): KeyObject;
  blindIndexKey(): Buffer;
  secretsKey(): Buffer;
}

const FILES = {
  identity: 'archive-identity.txt',
  audit: 'audit-signing.pem',
  blind: 'blind-index.key',
  secrets: 'secrets.key',
} as const;

function write(dir: string, name: string, content: string): void {
  createFileDurableSync(join(dir, name), content, 0o600);
}

/** Creates every key of a new archive in `dir` (which must exist, 0700). Returns the recipient. */
export function createLocalKeys(dir: string, now = new Date()): string {
  const { identity, recipient } = generateIdentity();
  write(dir, FILES.identity, formatIdentityFile(identity, now));
  const { privateKey } = generateKeyPairSync('ed25519');
  write(dir, FILES.audit, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  write(dir, FILES.blind, `${randomBytes(32).toString('base64')}\n`);
  write(dir, FILES.secrets, `${randomBytes(32).toString('base64')}\n`);
  // Durable before anything is sealed to them: their bytes (synced as each is written) and names.
  fsyncDirSync(dir);
  return recipient;
}

function readKey32(file: string): Buffer {
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key`);
  return key;
}

export function identityFilePath(dir: string): string {
  return join(dir, FILES.identity);
}

export function loadLocalKeys(dir: string): KeyProvider {
  const identity = parseIdentityFile(readFileSync(join(dir, FILES.identity), 'utf8'))[0]!;
  const recipient = recipientOf(identity);
  const audit = createPrivateKey(readFileSync(join(dir, FILES.audit)));
  const blind = readKey32(join(dir, FILES.blind));
  const secrets = readKey32(join(dir, FILES.secrets));
  return {
    archiveRecipient: recipient,
    archiveIdentity: () => identity,
    auditSigningKey: () => audit,
    blindIndexKey: () => blind,
    secretsKey: () => secrets,
  };
}
