// A SOFTWARE AUTHENTICATOR for tests: a stand-in for a hardware security key or a platform
// passkey, since no such device exists where the tests run. It holds one P-256 credential made
// with node:crypto and speaks WebAuthn as a browser and authenticator together would:
// - registration: clientDataJSON (type webauthn.create) and an attestationObject of fmt 'none'
//   whose authData carries rpIdHash, flags UP|UV|AT, the counter, a zero AAGUID, the
//   credential id and the public key as a COSE EC2 key;
// - authentication: authData (flags UP|UV, a counter that increases on every use) and a DER
//   ECDSA signature over authData || sha256(clientDataJSON).
// Every part can be bent (origin, RP ID, counter, flags) so tests can forge what an attacker would.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

type CborValue = Parameters<typeof isoCBOR.encode>[0];

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;
const COSE_KTY_EC2 = 2;
const COSE_ALG_ES256 = -7;
const COSE_CRV_P256 = 1;

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const b64u = (data: Uint8Array) => Buffer.from(data).toString('base64url');

function counterBytes(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** What a test may bend in one ceremony; by default everything is as an honest browser sends it. */
export interface Bend {
  /** The page's origin as the browser reports it. */
  origin?: string;
  /** The RP ID the authenticator hashes into authData (default: the one in the options). */
  rpId?: string;
  /** The signature counter to report, instead of the next one. */
  counter?: number;
  /** Leave out user verification (the UV flag). */
  noUserVerification?: boolean;
  /** Use this challenge instead of the one in the options. */
  challenge?: string;
}

export interface RegistrationJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  clientExtensionResults: Record<string, unknown>;
  authenticatorAttachment: 'cross-platform';
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
}

export interface AssertionJSON {
  id: string;
  rawId: string;
  type: 'public-key';
  clientExtensionResults: Record<string, unknown>;
  authenticatorAttachment: 'cross-platform';
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
}

export class SoftwareAuthenticator {
  readonly credentialId: Buffer = randomBytes(32);
  /** The user handle given at registration; a discoverable credential returns it on sign-in. */
  userHandle: string | null = null;
  counter = 0;
  readonly origin: string;
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;

  /** `origin` is where the "browser" page is, e.g. https://vault.example.test. */
  constructor(origin: string) {
    this.origin = origin;
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  get id(): string {
    return b64u(this.credentialId);
  }

  private coseKey(): Uint8Array {
    const jwk = this.publicKey.export({ format: 'jwk' });
    const key = new Map<number, CborValue>([
      [1, COSE_KTY_EC2], [3, COSE_ALG_ES256], [-1, COSE_CRV_P256],
      [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')],
    ]);
    return isoCBOR.encode(key);
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, bend: Bend): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge: bend.challenge ?? challenge, origin: bend.origin ?? this.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create(), for options as the server sent them. */
  register(options: { challenge: string; rp: { id?: string }; user: { id: string } }, bend: Bend = {}): RegistrationJSON {
    const rpId = bend.rpId ?? options.rp.id ?? new URL(this.origin).hostname;
    this.userHandle = options.user.id;
    const flags = FLAG_UP | FLAG_AT | (bend.noUserVerification ? 0 : FLAG_UV);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(this.credentialId.length);
    const authData = Buffer.concat([
      sha256(rpId), Buffer.from([flags]), counterBytes(bend.counter ?? this.counter),
      Buffer.alloc(16), idLength, this.credentialId, this.coseKey(),
    ]);
    const attestationObject = isoCBOR.encode(new Map<string, CborValue>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    return {
      id: this.id, rawId: this.id, type: 'public-key', clientExtensionResults: {}, authenticatorAttachment: 'cross-platform',
      response: { clientDataJSON: b64u(this.clientData('webauthn.create', options.challenge, bend)), attestationObject: b64u(attestationObject), transports: ['usb'] },
    };
  }

  /** navigator.credentials.get(): signs the challenge, counting one more use. */
  assert(options: { challenge: string; rpId?: string }, bend: Bend = {}): AssertionJSON {
    const rpId = bend.rpId ?? options.rpId ?? new URL(this.origin).hostname;
    if (bend.counter === undefined) this.counter += 1;
    const flags = FLAG_UP | (bend.noUserVerification ? 0 : FLAG_UV);
    const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), counterBytes(bend.counter ?? this.counter)]);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, bend);
    // ECDSA over authData || sha256(clientDataJSON); node:crypto gives the DER form WebAuthn uses.
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.privateKey);
    return {
      id: this.id, rawId: this.id, type: 'public-key', clientExtensionResults: {}, authenticatorAttachment: 'cross-platform',
      response: {
        clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature),
        ...(this.userHandle ? { userHandle: this.userHandle } : {}),
      },
    };
  }
}
