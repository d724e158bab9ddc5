// /api/v1/passkeys and /api/v1/session/passkey: adding and removing one's passkeys, signing in
// with one, and proving one again within a session (step-up). The ceremonies themselves are in
// passkeys.ts; here are only the shapes of the bodies and the HTTP answers.
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import { HttpError } from '../http/errors.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { STEP_UP_FIRST, type Passkeys } from './passkeys.ts';
import type { UserPrincipal } from './policy.ts';
import { accountCall, openedSession, person, throttle, whoAmI } from './routes.ts';
import { steppedUp, type Sessions } from './sessions.ts';

// The JSON form browsers give (PublicKeyCredential.toJSON()): binary fields as base64url strings,
// each bounded well above what an authenticator sends and well below the 64 KiB body limit.
const b64u = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/, 'must be base64url');
const credentialId = b64u(1400); // WebAuthn allows ids up to 1023 bytes
const common = {
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  // Extension outputs are an open map by the standard; we read none of them.
  clientExtensionResults: z.record(z.string().max(64), z.unknown()).refine((r) => Object.keys(r).length <= 16, 'too many extension results').default({}),
};
const registrationResponse = z.strictObject({
  ...common,
  response: z.strictObject({
    clientDataJSON: b64u(4096),
    attestationObject: b64u(32_768),
    authenticatorData: b64u(16_384).optional(),
    transports: z.array(z.string().max(32)).max(10).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64u(8192).optional(),
  }),
});
const authenticationResponse = z.strictObject({
  ...common,
  response: z.strictObject({
    clientDataJSON: b64u(4096),
    authenticatorData: b64u(4096),
    signature: b64u(2048),
    userHandle: b64u(256).nullish(),
  }),
});
const registerBody = z.strictObject({
  response: registrationResponse,
  name: z.string().trim().min(1).max(64).regex(/^[^\p{Cc}]*$/u, 'no control characters').default('passkey'),
});
const assertionBody = z.strictObject({ response: authenticationResponse });
const emptyBody = z.strictObject({});
const idParams = z.strictObject({ id: credentialId });

// The schemas above check every field the library reads; its types are narrower in name only.
const asRegistration = (r: z.infer<typeof registrationResponse>) => r as unknown as RegistrationResponseJSON;
const asAssertion = (r: z.infer<typeof authenticationResponse>) => ({ ...r, response: { ...r.response, userHandle: r.response.userHandle ?? undefined } }) as unknown as AuthenticationResponseJSON;

function freshStepUp(p: UserPrincipal): UserPrincipal {
  if (!steppedUp(p)) throw new HttpError(403, STEP_UP_FIRST, {}, 'step_up_required');
  return p;
}

export function passkeyRoutes(deps: { passkeys: Passkeys; sessions: Sessions; limiter: RateLimiter }): RouteDef[] {
  const { passkeys, sessions, limiter } = deps;
  return [
    defineRoute({
      method: 'POST', url: '/api/v1/passkeys/registration/options', tag: 'access', policy: { permission: 'session:self' }, body: emptyBody,
      summary: 'Begin adding a passkey (needs a step-up within 5 minutes): options for navigator.credentials.create()',
      responses: { 200: 'PublicKeyCredentialCreationOptionsJSON', 403: 'step-up required', 409: 'too many passkeys' },
      handler: async ({ principal }) => accountCall(() => passkeys.registrationOptions(freshStepUp(person(principal)))),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/passkeys/registration', tag: 'access', policy: { permission: 'session:self' }, body: registerBody,
      summary: 'Finish adding a passkey: the response of navigator.credentials.create() and a name for it',
      responses: { 201: 'the passkey', 400: 'challenge unknown or used, or the response not accepted (reason given)', 403: 'step-up required', 409: 'already registered' },
      async handler({ principal, body, reply, source, requestId }) {
        const p = freshStepUp(person(principal));
        const added = await accountCall(() => passkeys.verifyRegistration(p, asRegistration(body.response), body.name, { source, requestId }));
        reply.code(201);
        return added;
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/passkeys', tag: 'access', policy: { permission: 'session:self' },
      summary: 'Your passkeys', responses: { 200: '{ items: [{ id, name, transports, createdAt, lastUsedAt }] }' },
      handler: async ({ principal }) => ({ items: await passkeys.list(person(principal)) }),
    }),
    defineRoute({
      method: 'DELETE', url: '/api/v1/passkeys/:id', tag: 'access', policy: { permission: 'session:self' }, params: idParams,
      summary: 'Remove one of your passkeys (needs a step-up within 5 minutes)',
      responses: { 204: 'removed', 403: 'step-up required', 404: 'no such passkey of yours' },
      async handler({ principal, params, source, requestId }) {
        const p = freshStepUp(person(principal));
        await accountCall(() => passkeys.remove(p, params.id, { source, requestId }));
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session/passkey/options', tag: 'access', body: emptyBody,
      policy: { public: true, why: 'sign-in with a passkey' },
      summary: 'Begin signing in with a passkey: options for navigator.credentials.get() (no username needed)',
      responses: { 200: 'PublicKeyCredentialRequestOptionsJSON', 429: 'too many attempts' },
      async handler({ source }) {
        throttle(limiter, `passkey-options:${source}`);
        return passkeys.authenticationOptions();
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session/passkey', tag: 'access', body: assertionBody,
      policy: { public: true, why: 'sign-in with a passkey' },
      summary: 'Sign in with a passkey (it counts as both factors); sets the session cookie',
      responses: { 200: 'who is signed in', 401: 'not accepted (one answer for every cause)', 429: 'too many attempts' },
      async handler({ body, reply, source, requestId }) {
        throttle(limiter, `passkey-login:${source}`);
        const s = await accountCall(() => passkeys.signInWithPasskey(asAssertion(body.response), { source, requestId }));
        return openedSession(reply, sessions, s.sessionToken);
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session/step-up/passkey/options', tag: 'access', policy: { permission: 'session:self' }, body: emptyBody,
      summary: 'Begin a step-up with one of your passkeys: options for navigator.credentials.get()',
      responses: { 200: 'PublicKeyCredentialRequestOptionsJSON', 409: 'no passkey registered' },
      handler: async ({ principal }) => accountCall(() => passkeys.stepUpOptions(person(principal))),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/session/step-up/passkey', tag: 'access', policy: { permission: 'session:self' }, body: assertionBody,
      summary: 'Prove a passkey again within the session; download and export need it within 5 minutes',
      responses: { 200: 'who is signed in, with stepUpUntil', 401: 'not accepted', 429: 'too many attempts' },
      async handler({ principal, body, source, requestId }) {
        const p = person(principal);
        throttle(limiter, `passkey-step-up:${p.userId}`);
        await accountCall(() => passkeys.stepUpWithPasskey(p, asAssertion(body.response), { source, requestId }));
        return whoAmI({ ...p, stepUpAt: Date.now() });
      },
    }),
  ];
}
