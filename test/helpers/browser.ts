// The browser tests' world: a real callvault server serving the built app at
// http://localhost:PORT (its public URL, so passkeys work: browsers take no IP address as a
// WebAuthn relying party), and Debian's Chromium driven by playwright-core. No browser is
// downloaded; the one installed by scripts/system-tools.sh is used.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { totpCode } from '../../src/access/totp.ts';
import { initTestArchive, openTestArchive, releaseTestArchive } from './catalog.ts';
import { ListenError, startServer } from '../../src/cli/server.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { Person, TestServer } from './archive.ts';

export const CHROMIUM = '/usr/bin/chromium';
const root = new URL('../../', import.meta.url);
export const SCREENSHOTS = new URL('test/screenshots/', root);

/** Whether the app has been built (npm test builds it first; see package.json "pretest"). */
export function assertAppBuilt(): void {
  assert.ok(existsSync(new URL('web/dist/index.html', root)), 'web/dist is missing: run `npm run build:web` first');
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface AppServer extends TestServer {
  /** Where the browser goes: http://localhost:PORT, the server's public URL. */
  appUrl: string;
}

/** A fresh archive served on loopback, its public URL http://localhost:PORT. */
export async function startAppServer(env: Record<string, string> = {}): Promise<AppServer> {
  const rootDir = await mkdtemp(join(tmpdir(), 'callvault-browser-'));
  const dir = join(rootDir, 'data');
  await initTestArchive(dir);
  const archive = await openTestArchive(dir);
  const logs: string[] = [];
  const logStream = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  // The public URL names the port, so it is chosen first; should another process take it before
  // the server listens, the server lets everything go and starts again on another.
  let port = 0;
  let appUrl = '';
  let running: Awaited<ReturnType<typeof startServer>> | undefined;
  for (let attempt = 1; !running; attempt++) {
    port = await freePort();
    appUrl = `http://localhost:${port}`;
    const config = loadConfig({ data: dir, listen: `127.0.0.1:${port}`, 'public-url': appUrl }, env);
    try {
      running = await startServer(archive, config, logStream, env);
    } catch (err) {
      if (!(err instanceof ListenError && err.code === 'EADDRINUSE') || attempt === 5) throw err;
    }
  }
  return {
    url: `http://127.0.0.1:${port}`, appUrl, dir, archive, running, logs,
    async close() {
      await running.close();
      await archive.close();
      await releaseTestArchive(dir);
      await rm(rootDir, { recursive: true, force: true });
    },
  };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core gives every launch a fresh temporary profile (user-data-dir) and removes it.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required', '--mute-audio'],
  });
}

/** A fresh browser profile (cookies, storage) for one person, in the given language. */
export async function newContext(browser: Browser, locale = 'en-GB', opts: { bypassCSP?: boolean } = {}): Promise<BrowserContext> {
  return browser.newContext({ locale, viewport: { width: 1280, height: 900 }, bypassCSP: opts.bypassCSP ?? false, acceptDownloads: true });
}

/** Console errors, page errors and CSP violations seen by a page (there should be none). */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    // HTTP errors the app handles (401 for an anonymous visitor, 404 when single sign-on is not
    // configured, 403 break_glass_available) are logged by Chromium as "Failed to load resource".
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return problems;
}

/**
 * Makes the person's last accepted TOTP step old, so the code of the current step is accepted
 * again (a used step never is): lets a test sign in and step up within one 30-second step.
 */
export async function freshTotp(s: TestServer, p: Person): Promise<string> {
  await s.archive.db.updateTable('users').set({ totp_last_step: 0 }).where('username', '=', p.username).execute();
  return totpCode(p.totpSecret, Date.now());
}

/** Signs in through the page's form with password and authenticator code. */
export async function signInWithForm(page: Page, s: TestServer, p: Person): Promise<void> {
  await page.getByLabel('Username').fill(p.username);
  await page.getByLabel('Password', { exact: true }).fill(p.password);
  await page.getByLabel('Authenticator code', { exact: true }).fill(await freshTotp(s, p));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).first().waitFor();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOTS).pathname, fullPage: true });
}

const axeSource = readFileSync(new URL('node_modules/axe-core/axe.min.js', root), 'utf8');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }

/**
 * Rules of the WCAG 2.x A/AA tags (and axe's best practices) whose findings are accepted, each with
 * its reason. Everything else fails the test at every impact level (minor and moderate too).
 */
export const AXE_ACCEPTED: Readonly<Record<string, string>> = {};

/**
 * Runs axe-core (WCAG 2.0-2.2 A and AA rules, and axe's best practices) on the page as it stands
 * and returns every violation, whatever its impact, but for those listed in AXE_ACCEPTED. axe's
 * source is evaluated through the DevTools protocol (not subject to the page's CSP), so the
 * server's CSP stays as strict as ever.
 */
export async function axe(page: Page): Promise<string[]> {
  // The source as an expression through the DevTools protocol, not eval() in the page (which the CSP forbids).
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const g = globalThis as unknown as { document: unknown; axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: AxeViolation[] }> } };
    const r = await g.axe.run(g.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  return violations.filter((v) => !(v.id in AXE_ACCEPTED))
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
}

/**
 * The little of the page's DOM the tests read inside page functions (the tests are type-checked
 * without the DOM library): `(globalThis as unknown as InPage).document...`. Page functions, not
 * strings: Playwright evaluates strings with eval, which the app's CSP refuses.
 */
export interface InPage {
  document: {
    querySelector(selector: string): PageElement | null;
    querySelectorAll(selector: string): { length: number };
    activeElement: PageElement | null;
    documentElement: PageElement;
  };
  localStorage: { getItem(key: string): string | null };
}

export interface PageElement {
  tagName: string;
  lang: string;
  textContent: string | null;
  currentTime: number;
  duration: number;
  readyState: number;
  playbackRate: number;
  paused: boolean;
  play(): Promise<void>;
  pause(): void;
  load(): void;
}
