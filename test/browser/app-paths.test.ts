// How callvault serves its browser app (no browser needed): the built index.html for exactly
// the app's client-side paths, the built assets from memory with their types and the strict
// CSP, nothing inline for the CSP to refuse, and the API's 404 for every other path, but for a
// browser asking for a page outside the API: it gets index.html as a 404, and the app says
// "Page not found" in the person's language.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { APP_PATHS } from '../../src/http/pages.ts';
import { APP_ROUTES, matchRoute } from '../../web/src/routes.ts';
import { startTestServer, type TestServer } from '../helpers/archive.ts';
import { assertAppBuilt } from '../helpers/browser.ts';

describe('serving the browser app', () => {
  let s: TestServer;
  let index: string;

  before(async () => {
    assertAppBuilt();
    index = readFileSync(new URL('../../web/dist/index.html', import.meta.url), 'utf8');
    s = await startTestServer();
  });
  after(() => s.close());

  it('serves index.html at exactly the paths the app routes', () => {
    assert.deepEqual([...APP_PATHS].sort(), APP_ROUTES.map((r) => r.pattern).sort());
    assert.equal(matchRoute('/recordings/abc')?.name, 'recording');
    assert.equal(matchRoute('/recordings/')?.name, undefined);
    assert.equal(matchRoute('/recordings/a/b'), null);
    assert.equal(matchRoute('/admin'), null);
  });

  it('builds a page with nothing inline: no script or style element bodies, no style attributes, no data: URLs', () => {
    assert.doesNotMatch(index, /<script(?![^>]*\bsrc=)[^>]*>/, 'every script is a file');
    assert.doesNotMatch(index, /<style[\s>]/);
    assert.doesNotMatch(index, /\sstyle=/);
    assert.doesNotMatch(index, /data:/);
    assert.doesNotMatch(index, /modulepreload-polyfill|__vite/);
  });

  it('answers every app path with the page and the strict CSP', async () => {
    for (const pattern of APP_PATHS) {
      const path = pattern.replace(':id', 'f'.repeat(32));
      const res = await fetch(s.url + path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self'/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.equal(await res.text(), index);
    }
  });

  it('serves each asset the page names, with its type, from memory', async () => {
    const refs = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(refs.some((r) => r.endsWith('.js')) && refs.some((r) => r.endsWith('.css')), refs.join());
    for (const ref of refs) {
      const res = await fetch(s.url + ref);
      assert.equal(res.status, 200, ref);
      const want = ref.endsWith('.js') ? /^text\/javascript/ : ref.endsWith('.css') ? /^text\/css/ : /^image\/svg\+xml/;
      assert.match(res.headers.get('content-type') ?? '', want, ref);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), readFileSync(new URL(`../../web/dist${ref}`, import.meta.url)), ref);
    }
  });

  it('answers other paths with the API\'s 404, never a file', async () => {
    for (const path of ['/recordings', '/admin', '/audit/x', '/assets/', '/assets/nope.js', '/assets/../index.html', '/index.html', '/web/dist/index.html',
      '/src/main.tsx', '/package.json', '/.vite/manifest.json', '/enroll/x']) {
      const res = await fetch(s.url + path);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, path);
    }
    const post = await fetch(s.url + '/account', { method: 'POST' });
    assert.equal(post.status, 404, 'only GET');
  });

  it('answers a browser asking for a page at any other address outside the API with the page itself, as a 404', async () => {
    // What Chromium sends when it follows a link or an address typed in.
    const accept = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';
    for (const path of ['/audit/', `/recordings/${'f'.repeat(32)}/`, '/nope', '/recordings', '/admin', '/audit/x?from=1', '/index.html', '/%2e%2e/etc/passwd']) {
      const res = await fetch(s.url + path, { headers: { accept } });
      assert.equal(res.status, 404, path);
      assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8', path);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self'/, path);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', path);
      assert.equal(res.headers.get('cache-control'), 'no-store', path);
      assert.equal(await res.text(), index, path);
    }
    // The API answers its clients in JSON, whatever they accept; so does a page refused outright
    // (text/html;q=0), and any other method than GET.
    const json = async (path: string, init: RequestInit) => {
      const res = await fetch(s.url + path, init);
      assert.equal(res.status, 404, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, path);
      assert.deepEqual(await res.json(), { error: 'not found' }, path);
    };
    for (const path of ['/api/v1/nope', '/api/v1/recordings/x/y', '/api/', '/api']) await json(path, { headers: { accept } });
    await json('/nope', { headers: { accept: 'application/json' } });
    await json('/nope', { headers: { accept: 'text/html;q=0, application/json' } });
    await json('/nope', { method: 'POST', headers: { accept } });
  });
});
