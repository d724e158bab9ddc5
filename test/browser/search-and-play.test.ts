// A nurse (supervisor of Akuten and Barn) in a real Chromium against a real callvault: signs in
// with password and TOTP through the form, searches as she types, opens a call with the
// keyboard, plays and seeks it (the browser streams with HTTP Range: the server answers 206),
// changes speed and leg, and downloads it after a step-up. axe-core finds no serious or critical
// violations on these pages, and nothing on them breaks the CSP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page, Request, Response } from 'playwright-core';
import { enrollPerson, type Person } from '../helpers/archive.ts';
import { assertAppBuilt, axe, freshTotp, launchChromium, newContext, screenshot, signInWithForm, startAppServer, watchProblems, type AppServer, type InPage } from '../helpers/browser.ts';
import { STEREO_CALLER, uploadCalls, type Calls } from './fixtures.ts';

describe('search and play in the browser', () => {
  let s: AppServer;
  let browser: Browser;
  let page: Page;
  let calls: Calls;
  let nurse: Person;
  let problems: string[];
  const audioResponses: Array<{ status: number; range: string | null; contentRange: string | null }> = [];

  before(async () => {
    assertAppBuilt();
    s = await startAppServer();
    calls = await uploadCalls(s);
    nurse = await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['Akuten', 'Barn'] });
    browser = await launchChromium();
    page = await (await newContext(browser)).newPage();
    problems = watchProblems(page);
    page.on('response', (r: Response) => {
      if (/\/api\/v1\/recordings\/[0-9a-f]{32}\/audio$/.test(new URL(r.url()).pathname)) audioResponses.push({ status: r.status(), range: r.request().headers().range ?? null, contentRange: r.headers()['content-range'] ?? null });
    });
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('signs in with password and authenticator code, and lands on the search with every call in scope', async () => {
    await page.goto(`${s.appUrl}/`);
    await signInWithForm(page, s, nurse);
    await page.getByRole('heading', { level: 1, name: 'Search calls' }).waitFor();
    const rows = page.locator('table.results tbody tr');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    assert.match(await page.locator('#results-heading').innerText(), /2 found/);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Search calls' }).getAttribute('aria-current'), 'page');
    assert.equal(await page.getByRole('link', { name: 'People' }).count(), 0, 'a supervisor is not shown administration');
    await screenshot(page, 'search');
    assert.deepEqual(await axe(page), []);
  });

  it('updates the results as a filter is typed (debounced), cancelling the stale request', async () => {
    // The filters go in a POST body: a phone number never appears in a URL.
    const searched: string[] = [];
    const urls: string[] = [];
    const isSearch = (r: Request) => new URL(r.url()).pathname === '/api/v1/recordings/search' && r.method() === 'POST';
    const body = (r: Request) => r.postData() ?? '';
    const listen = (r: Response) => { if (isSearch(r.request())) searched.push(body(r.request())); };
    const seen = (r: Request) => { urls.push(r.url()); };
    page.on('response', listen);
    page.on('request', seen);
    await page.getByLabel('Care unit').pressSequentially('Akuten', { delay: 30 });
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll('table.results tbody tr').length === 1);
    assert.match(await page.locator('table.results tbody').innerText(), /Akuten/);
    // Debounced: six keystrokes 30 ms apart make one search (a stalled machine may make two), for the whole word.
    assert.ok(searched.length >= 1 && searched.length < 6, `debounced (${searched.join(' ')})`);
    assert.equal((JSON.parse(searched.at(-1)!) as { careUnit?: string }).careUnit, 'Akuten', searched.join(' '));
    await page.getByLabel('Caller number').fill(STEREO_CALLER);
    await page.waitForResponse((r) => isSearch(r.request()) && (JSON.parse(body(r.request())) as { caller?: string }).caller === STEREO_CALLER);
    await page.getByLabel('Direction').selectOption('outbound');
    await page.getByText('No calls match these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll('table.results tbody tr').length === 2);
    page.off('response', listen);
    page.off('request', seen);
    assert.ok(urls.length > 0 && urls.every((u) => !u.includes('caller') && !u.includes(STEREO_CALLER.slice(1))), urls.join(' '));

    // A slow server: the search typed on while one is in flight cancels it (AbortController).
    const failed: string[] = [];
    const onFailed = (r: Request) => { if (isSearch(r)) failed.push(`${body(r)} ${r.failure()?.errorText}`); };
    page.on('requestfailed', onFailed);
    await page.route('**/api/v1/recordings/search', async (route) => {
      await new Promise((r) => setTimeout(r, 800));
      await route.continue().catch(() => undefined);
    });
    await page.getByLabel('Agent id').fill('agent-7');
    await page.waitForRequest((r) => isSearch(r) && body(r).includes('"agent":"agent-7"'));
    await page.getByLabel('Agent id').fill('agent-9');
    await page.waitForResponse((r) => isSearch(r.request()) && body(r.request()).includes('"agent":"agent-9"'));
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll('table.results tbody tr').length === 1);
    await page.unroute('**/api/v1/recordings/search');
    page.off('requestfailed', onFailed);
    assert.ok(failed.some((f) => f.includes('"agent":"agent-7"') && f.includes('ERR_ABORTED')), failed.join('; '));
    assert.match(await page.locator('table.results tbody').innerText(), /Barn/, 'the stale answer never replaced the fresh one');
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll('table.results tbody tr').length === 2);
  });

  it('opens a call from the keyboard and moves focus to its heading', async () => {
    await page.getByLabel('Care unit').fill('Akuten');
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll('table.results tbody tr').length === 1);
    await page.locator('table.results tbody tr a').first().focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/recordings/${calls.stereo}`);
    await page.getByRole('heading', { level: 1, name: /^Call of / }).waitFor();
    // Focus moves in the frame after the page is drawn: wait for it (a few seconds at most), then say what has it.
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.activeElement?.tagName === 'H1', undefined, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.tagName), 'H1');
    const details = await page.locator('dl.details').innerText();
    assert.match(details, /\+46701234567|070/, 'the caller number is shown');
    assert.match(details, /Akuten/);
    assert.match(details, /stereo/);
    // Opening a call is not listening to it: no byte of its audio is asked for before it is
    // played, so the patient's log extract does not say someone listened.
    await page.getByRole('slider', { name: /Waveform/ }).waitFor();
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(audioResponses, [], 'no audio fetched before Play');
    const actions = (await s.archive.db.selectFrom('audit_events').select('action').where('object_id', '=', calls.stereo).execute()).map((e) => e.action);
    assert.ok(actions.includes('recording.viewed') && !actions.includes('recording.played'), actions.join(' '));
  });

  it('plays, seeks by clicking the waveform, streams with Range (206), and takes speed and leg', async () => {
    // Over a slow link (64 KB/s, set through the DevTools protocol), the browser cannot have
    // fetched the whole call before the seek, so where it asks for bytes from shows the seek.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const throttle = (bytesPerS: number) => cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: bytesPerS, uploadThroughput: -1 });
    await throttle(64 * 1024);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: /^Call of / }).waitFor();
    const canvas = page.getByRole('slider', { name: /Waveform/ });
    await canvas.waitFor();
    // Seek by clicking the waveform at three quarters, then play: the browser asks for the audio
    // from there (a 206 whose range starts well past 0), not for the whole file from its start.
    const before = audioResponses.length;
    const box = (await canvas.boundingBox())!;
    await canvas.click({ position: { x: box.width * 0.75, y: box.height / 2 } });
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector('audio')!.currentTime > 29);
    await page.getByLabel('Speed').selectOption('1.5');
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector('audio')!.playbackRate === 1.5);
    await page.getByRole('radio', { name: 'Caller only' }).check();
    await page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('audio')!.play());
    const t1 = await page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('audio')!.currentTime);
    await page.waitForFunction((t) => (globalThis as unknown as InPage).document.querySelector('audio')!.currentTime > t + 0.3, t1);
    const seekRanges = audioResponses.slice(before).flatMap((r) => {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.contentRange ?? '');
      return r.status === 206 && m ? [{ start: Number(m[1]), size: Number(m[3]) }] : [];
    });
    assert.ok(seekRanges.some((r) => r.start > r.size / 2), `a range from the seek point: ${JSON.stringify(audioResponses)}`);
    await throttle(-1);
    await cdp.detach();
    // The keyboard seeks too: Home goes back to the start.
    await canvas.focus();
    await page.keyboard.press('Home');
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector('audio')!.currentTime < 5);
    await page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('audio')!.pause());
    assert.ok(audioResponses.some((r) => r.status === 206 && r.range !== null), JSON.stringify(audioResponses));
    assert.ok(audioResponses.every((r) => r.status === 206 || r.status === 200), JSON.stringify(audioResponses));
    await screenshot(page, 'recording');
    assert.deepEqual(await axe(page), []);
  });

  it('downloads after a step-up when the second factor is stale', async () => {
    await s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 6 * 60_000 }).execute();
    await page.getByRole('button', { name: 'Download the audio' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
    await dialog.waitFor();
    assert.deepEqual(await axe(page), []);
    await dialog.getByLabel('Authenticator code or recovery code').fill(await freshTotp(s, nurse));
    const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('button', { name: 'Confirm' }).click()]);
    assert.equal(download.suggestedFilename(), `${calls.stereo}.wav`);
    await dialog.waitFor({ state: 'hidden' });
    const downloaded = await s.archive.db.selectFrom('audit_events').select('object_id').where('action', '=', 'recording.downloaded').execute();
    assert.deepEqual(downloaded.map((d) => d.object_id), [calls.stereo]);
  });

  it('seeks with keys as fast as they repeat: each press steps on from where the one before went', async () => {
    // The 40 s stereo call, played before: each seek waits for its bytes, as over any network.
    const audio = () => page.evaluate(() => {
      const a = (globalThis as unknown as InPage).document.querySelector('audio')!;
      return { at: a.currentTime, seeking: (a as unknown as { seeking: boolean }).seeking };
    });
    const settled = () => page.waitForFunction(() => !((globalThis as unknown as InPage).document.querySelector('audio') as unknown as { seeking: boolean }).seeking);
    const canvas = page.getByRole('slider', { name: /Waveform/ });
    await canvas.focus();
    await page.keyboard.press('Home');
    await settled();
    assert.ok((await audio()).at < 0.5);
    // Key repeat: six presses of the right arrow, 30 ms apart, are six steps of 5 s.
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('ArrowRight');
      await new Promise((r) => setTimeout(r, 30));
    }
    await settled();
    assert.ok(Math.abs((await audio()).at - 30) < 0.5, `at ${(await audio()).at} s, not 30`);
    // Two keys at once (one task, so no seek can end between them): 30 s and 5 s on from 0.
    await page.keyboard.press('Home');
    await settled();
    await canvas.evaluate((c) => {
      const g = globalThis as unknown as { KeyboardEvent: new (type: string, init: { key: string; bubbles: boolean }) => unknown };
      const target = c as unknown as { dispatchEvent(e: unknown): boolean };
      for (const key of ['PageUp', 'ArrowRight']) target.dispatchEvent(new g.KeyboardEvent('keydown', { key, bubbles: true }));
    });
    await settled();
    assert.ok(Math.abs((await audio()).at - 35) < 0.5, `at ${(await audio()).at} s, not 35`);
    // The slider says where the call is once the seek has landed.
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } })
      .document.querySelector('canvas[role="slider"]')?.getAttribute('aria-valuenow') === '35', undefined, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await canvas.getAttribute('aria-valuenow'), '35');
  });

  it('plays the mono WAV too, and its history lists the plays', async () => {
    await page.goto(`${s.appUrl}/recordings/${calls.mono}`);
    await page.getByRole('heading', { level: 1, name: /^Call of / }).waitFor();
    assert.equal(await page.getByRole('radio', { name: 'Caller only' }).count(), 0, 'no leg choice for a mono call');
    await page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('audio')!.play());
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector('audio')!.currentTime > 0.3);
    await page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('audio')!.pause());
    const history = page.getByRole('region', { name: 'Access history' });
    await history.getByRole('button', { name: 'Refresh' }).click();
    await history.getByText('recording.played').first().waitFor();
    assert.deepEqual(problems, [], 'no page errors and no CSP violations');
  });

  it('after an idle timeout, the audio\'s 401 brings the person back to the sign-in page, on the same call', async () => {
    // The session times out before the call is played; a play from 20 s in then asks for audio
    // the browser does not have (over a slow link it could not have it all): the server answers 401.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: 64 * 1024, uploadThroughput: -1 });
    await page.reload();
    await page.getByRole('heading', { level: 1, name: /^Call of / }).waitFor();
    await page.getByRole('slider', { name: /Waveform/ }).waitFor();
    await s.archive.db.updateTable('sessions').set({ last_seen_at: Date.now() - 16 * 60_000 }).execute();
    await page.evaluate(() => {
      const a = (globalThis as unknown as InPage).document.querySelector('audio')!;
      a.currentTime = 20;
      void a.play().catch(() => undefined);
    });
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
    assert.ok(page.url().endsWith(`/recordings/${calls.mono}`), 'signing in again returns to the call');
    assert.ok(audioResponses.some((r) => r.status === 401), JSON.stringify(audioResponses));
  });
});
