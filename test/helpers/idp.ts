// A real OpenID provider (oidc-provider) on loopback for the single sign-on tests, behind a
// small HTTP proxy that can turn hostile: it forwards everything, but can rewrite the ID token
// the token endpoint answers with, re-signed with the provider's own key (or a stranger's).
// The provider's issuer is the proxy's URL, so callvault only ever talks to the proxy.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export const CLIENT_ID = 'callvault-test';
export const CLIENT_SECRET = 'a-client-secret-for-tests-only-0123456789';

export interface Forgery {
  /** Changes the ID token's claims before it is signed again. */
  claims?: (c: Record<string, unknown>) => Record<string, unknown>;
  /** Signs with a key that is not the provider's. */
  foreignKey?: boolean;
}

export interface TestIdp {
  issuer: string;
  /** Claims of each person, by subject. */
  accounts: Map<string, Record<string, unknown>>;
  /** Whom the next login interaction signs in (a person typing their credentials at the IdP). */
  loginAs: string;
  /** When set, the token endpoint's ID token is rewritten. */
  forgery: Forgery | null;
  /** Starts the provider itself, once callvault's callback URLs are known. */
  start(redirectUris: string[]): Promise<void>;
  close(): Promise<void>;
}

const listen = (server: http.Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const close = (server: http.Server | undefined) => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function resign(jwt: string, f: Forgery, key: KeyObject): string {
  const [h, p] = jwt.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  const input = `${b64(JSON.parse(Buffer.from(h!, 'base64url').toString()))}.${b64(f.claims ? f.claims(payload) : payload)}`;
  return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/** The proxy listens at once (its URL is the issuer callvault is configured with); the provider starts later. */
export async function reserveIdp(): Promise<TestIdp> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const { privateKey: stranger } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let upstream = 0;
  let inner: http.Server | undefined;

  const proxy = http.createServer((req, res) => {
    const forgery = req.method === 'POST' && req.url?.startsWith('/token') ? idp.forgery : null;
    const up = http.request({ host: '127.0.0.1', port: upstream, method: req.method, path: req.url, headers: req.headers }, (r) => {
      if (!forgery) {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
        return;
      }
      const parts: Buffer[] = [];
      r.on('data', (c: Buffer) => parts.push(c));
      r.on('end', () => {
        const body = JSON.parse(Buffer.concat(parts).toString()) as Record<string, unknown>;
        if (typeof body.id_token === 'string') body.id_token = resign(body.id_token, forgery, forgery.foreignKey ? stranger : privateKey);
        const out = JSON.stringify(body);
        const headers = { ...r.headers, 'content-length': String(Buffer.byteLength(out)) };
        delete headers['transfer-encoding'];
        res.writeHead(r.statusCode!, headers).end(out);
      });
    });
    up.on('error', (err) => res.writeHead(502).end(String(err)));
    req.pipe(up);
  });
  const port = await listen(proxy);

  const idp: TestIdp = {
    issuer: `http://127.0.0.1:${port}`,
    accounts: new Map(),
    loginAs: '',
    forgery: null,
    async start(redirectUris) {
      const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };
      const provider = new Provider(idp.issuer, {
        clients: [{
          client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: redirectUris,
          grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
        }],
        jwks: { keys: [jwk] },
        claims: { openid: ['sub'], profile: ['preferred_username', 'name', 'roles', 'hsa_care_units', 'hsa_agent_id'] },
        features: { devInteractions: { enabled: false } },
        cookies: { keys: ['cookie-key-for-tests-only'] },
        ttl: { Interaction: 600, Session: 3600, Grant: 3600, AccessToken: 600, IdToken: 600 },
        async findAccount(_ctx: unknown, sub: string) {
          const claims = idp.accounts.get(sub);
          return claims ? { accountId: sub, claims: async () => ({ ...claims, sub }) } : undefined;
        },
      });
      const handle = provider.callback();
      // The person at the IdP: logs in as `loginAs` and consents to whatever callvault asked for.
      const interact = async (req: http.IncomingMessage, res: http.ServerResponse) => {
        const d = await provider.interactionDetails(req, res);
        if (d.prompt.name === 'login') return provider.interactionFinished(req, res, { login: { accountId: idp.loginAs } }, { mergeWithLastSubmission: false });
        const grant = new provider.Grant({ accountId: d.session!.accountId, clientId: String(d.params.client_id) });
        grant.addOIDCScope(String(d.params.scope));
        return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } });
      };
      inner = http.createServer((req, res) => {
        if (req.url?.startsWith('/interaction/')) interact(req, res).catch((err: Error) => res.writeHead(500).end(err.message));
        else handle(req, res);
      });
      upstream = await listen(inner);
    },
    async close() {
      proxy.closeAllConnections();
      inner?.closeAllConnections();
      await Promise.all([close(proxy), close(inner)]);
    },
  };
  return idp;
}

/** A browser, as far as sign-on needs one: cookies per origin, redirects followed by hand. */
export class Browser {
  private jars = new Map<string, Map<string, string>>();

  /** Drops the cookies of one origin (signed out there). */
  forget(origin: string): void {
    this.jars.delete(origin);
  }

  async get(url: string | URL): Promise<Response> {
    const u = new URL(url);
    const jar = this.jars.get(u.origin) ?? new Map<string, string>();
    this.jars.set(u.origin, jar);
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(u, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const i = pair.indexOf('=');
      const [name, value] = [pair.slice(0, i).trim(), pair.slice(i + 1).trim()];
      if (value === '' || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) jar.delete(name);
      else jar.set(name, value);
    }
    return res;
  }

  /** Follows redirects from `url` until one points where `stop` says; returns that URL, not yet asked. */
  async until(url: string | URL, stop: (u: URL) => boolean): Promise<URL> {
    let next = new URL(url);
    for (let i = 0; i < 20 && !stop(next); i++) {
      const res = await this.get(next);
      const body = await res.text();
      const location = res.headers.get('location');
      if (!location) throw new Error(`no redirect from ${next.origin}${next.pathname}: ${res.status} ${body}`);
      next = new URL(location, next);
    }
    if (!stop(next)) throw new Error('too many redirects');
    return next;
  }
}
