// The browser app (web/, built by Vite into web/dist): a fixed list of files read once at start
// and served from memory. Nothing else is served from disk, ever: index.html, the files the
// build put in assets/ (names fixed at start), and index.html again for the app's own
// client-side paths (below), so that a reload or a shared link of /recordings/ID opens the app.
// Any other path is the API's 404, but for a browser asking for a page outside the API: it gets
// index.html as the 404, and the app shows its own "Page not found" in the person's language.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { defineRoute, type RouteDef } from './routes.ts';

const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** The app's client-side paths (web/src/routes.ts keeps the same list; a test checks they agree). */
export const APP_PATHS = [
  '/', '/enroll', '/recordings/:id', '/audit', '/audit/integrity', '/audit/alerts', '/audit/reviews', '/audit/extract',
  '/admin/users', '/admin/keys', '/admin/settings', '/account',
] as const;

const ASSET_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  woff2: 'font/woff2',
};

/** What is served when the app was never built (say, tests run straight from a fresh clone). */
const NOT_BUILT = Buffer.from('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>callvault</title></head><body>' +
  '<h1>callvault</h1><p>The browser app is not built. Run <code>npm run build:web</code> (or <code>npm start</code>, which builds it) and restart.</p></body></html>\n');

function buildDir(): URL | null {
  // From the sources (src/http) or from a build (dist/src/http).
  for (const rel of ['../../web/dist/', '../../../web/dist/']) {
    const dir = new URL(rel, import.meta.url);
    if (existsSync(new URL('index.html', dir))) return dir;
  }
  return null;
}

function page(url: string, body: Buffer, summary: string): RouteDef {
  return defineRoute({
    method: 'GET', url, tag: 'pages', policy: { public: true, why: 'the browser app (it signs in through the API)' },
    summary, responses: { 200: 'index.html' },
    async handler({ reply }) {
      reply.code(200).headers({ 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PAGE_CSP });
      return reply.send(body);
    },
  });
}

function indexPage(dir: URL | null): Buffer {
  return dir ? readFileSync(new URL('index.html', dir)) : NOT_BUILT;
}

/** Whether an Accept header names HTML, as a browser's request for a page does (any type alone is an API client's default). */
function acceptsHtml(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    return type === 'text/html' && !params.some((p) => /^q=0(\.0{0,3})?$/.test(p));
  });
}

/**
 * The answer to a request no route takes, when it is a browser asking for a page outside the API
 * (a mistyped or stale address, a slash too many): index.html with status 404, under the pages'
 * CSP, so the app shows its own "Page not found" in the person's language rather than raw JSON.
 * Read at start, like the pages. Returns false, sending nothing, for any other request: the API's
 * clients get its JSON 404, whatever they accept.
 */
export function appNotFound(): (req: FastifyRequest, reply: FastifyReply) => boolean {
  const index = indexPage(buildDir());
  return (req, reply) => {
    const path = req.url.split('?')[0]!;
    if (req.method !== 'GET' || path === '/api' || path.startsWith('/api/') || !acceptsHtml(req.headers.accept)) return false;
    reply.code(404).headers({ 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PAGE_CSP }).send(index);
    return true;
  };
}

export function pageRoutes(): RouteDef[] {
  const dir = buildDir();
  const index = indexPage(dir);
  const routes = APP_PATHS.map((url) => page(url, index, url === '/' ? 'The browser app' : `The browser app (${url})`));
  if (!dir) return routes;
  const assetsDir = new URL('assets/', dir);
  const names = existsSync(assetsDir) ? readdirSync(assetsDir).sort() : [];
  for (const name of names) {
    const type = ASSET_TYPES[name.slice(name.lastIndexOf('.') + 1)];
    if (!type || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(name)) continue;
    const body = readFileSync(new URL(name, assetsDir));
    routes.push(defineRoute({
      method: 'GET', url: `/assets/${name}`, tag: 'pages', policy: { public: true, why: 'the browser app\'s code and styles' },
      summary: `The browser app's ${name}`, responses: { 200: name },
      async handler({ reply }) {
        // Content-hashed names: a new build has new names, so these never go stale.
        reply.code(200).headers({ 'content-type': type, 'content-security-policy': PAGE_CSP, 'cache-control': 'public, max-age=31536000, immutable' });
        return reply.send(body);
      },
    }));
  }
  return routes;
}
