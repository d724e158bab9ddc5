// The sign-in and enrollment page: a fixed list of files read once at start and served from
// memory. Nothing else is served from disk, ever.
import { existsSync, readFileSync } from 'node:fs';
import { defineRoute, type RouteDef } from './routes.ts';

const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

function webDir(): URL {
  // From the sources (src/http) or from a build (dist/src/http).
  for (const rel of ['../../web/static/', '../../../web/static/']) {
    const dir = new URL(rel, import.meta.url);
    if (existsSync(new URL('index.html', dir))) return dir;
  }
  throw new Error('the web page files (web/static) are missing from this installation');
}

const FILES = [
  { urls: ['/', '/enroll'], file: 'index.html', type: 'text/html; charset=utf-8' },
  { urls: ['/assets/app.js'], file: 'app.js', type: 'text/javascript; charset=utf-8' },
  { urls: ['/assets/app.css'], file: 'app.css', type: 'text/css; charset=utf-8' },
];

export function pageRoutes(): RouteDef[] {
  const dir = webDir();
  return FILES.flatMap(({ urls, file, type }) => {
    const body = readFileSync(new URL(file, dir));
    return urls.map((url) => defineRoute({
      method: 'GET', url, tag: 'pages', policy: { public: true, why: 'the sign-in page' },
      summary: `Sign-in and enrollment page (${file})`, responses: { 200: file },
      async handler({ reply }) {
        reply.code(200).headers({ 'content-type': type, 'content-security-policy': PAGE_CSP });
        return reply.send(body);
      },
    }));
  });
}
