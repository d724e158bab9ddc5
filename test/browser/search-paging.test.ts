// The search as a nurse pages through it, in the browser: older calls page on with the keyboard
// without losing focus, coming back from a call finds the pages and the place in them, a failed
// search leaves no rows of the search before, and on a shared computer the next person to sign
// in finds nothing of the last one's search (their first search would be audited in their name).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { seedCatalog } from '../../src/catalog/seed.ts';
import { enrollPerson, type Person } from '../helpers/archive.ts';
import { assertAppBuilt, axe, launchChromium, newContext, signInWithForm, startAppServer, watchProblems, type AppServer, type InPage } from '../helpers/browser.ts';
import { STEREO_CALLER, uploadCalls } from './fixtures.ts';

const rowCount = (page: Page) => page.locator('table.results tbody tr').count();
const waitForRows = (page: Page, n: number) =>
  page.waitForFunction((k) => (globalThis as unknown as InPage).document.querySelectorAll('table.results tbody tr').length === k, n);
const focused = (page: Page) => page.evaluate(() => {
  const e = (globalThis as unknown as InPage).document.activeElement;
  return `${e?.tagName} ${e?.textContent ?? ''}`.trim();
});

describe('paging through a search in the browser', () => {
  let s: AppServer;
  let browser: Browser;
  let page: Page;
  let nurse: Person;
  let other: Person;
  let problems: string[];

  before(async () => {
    assertAppBuilt();
    s = await startAppServer();
    await uploadCalls(s);
    // 120 synthetic calls besides the two real ones: three pages of 50, the last short.
    await seedCatalog(s.archive.db, s.archive.blindIndex, { calls: 120, days: 30 });
    nurse = await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['*'] });
    other = await enrollPerson(s, 'nurse2', { roles: ['supervisor'], careUnits: ['*'] });
    browser = await launchChromium();
    page = await (await newContext(browser)).newPage();
    problems = watchProblems(page);
    await page.goto(`${s.appUrl}/`);
    await signInWithForm(page, s, nurse);
    await waitForRows(page, 50);
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('pages on from the keyboard: focus stays on "Older calls", and at the end is told there are no more', async () => {
    const older = page.getByRole('button', { name: 'Older calls' });
    await older.focus();
    await page.keyboard.press('Enter');
    await waitForRows(page, 100);
    assert.equal(await focused(page), 'BUTTON Older calls', 'focus stays on the button');
    await page.keyboard.press('Enter');
    await waitForRows(page, 122);
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.activeElement?.tagName === 'P', undefined, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await focused(page), 'P No older calls.', 'at the end, focus goes to the words saying so, not back to the top');
    assert.equal(await older.count(), 0);
    assert.deepEqual(await axe(page), []);
  });

  it('coming back from a call finds the pages loaded and the place in them, without searching again', async () => {
    const row = page.locator('table.results tbody tr').nth(110);
    await row.scrollIntoViewIfNeeded();
    const scrolled = await page.evaluate(() => (globalThis as unknown as InPage & { scrollY: number }).scrollY);
    assert.ok(scrolled > 0);
    const searches: string[] = [];
    const count = (r: { url(): string }) => { if (new URL(r.url()).pathname === '/api/v1/recordings/search') searches.push(r.url()); };
    page.on('request', count);
    await row.locator('a').click();
    await page.getByRole('heading', { level: 1, name: /^Call of / }).waitFor();
    await page.goBack();
    await page.getByRole('heading', { level: 1, name: 'Search calls' }).waitFor();
    await waitForRows(page, 122);
    await new Promise((r) => setTimeout(r, 500)); // a search would have been made by now (250 ms debounce)
    page.off('request', count);
    assert.deepEqual(searches, [], 'the pages shown are those loaded before');
    const back = await page.evaluate(() => (globalThis as unknown as InPage & { scrollY: number }).scrollY);
    assert.ok(Math.abs(back - scrolled) < 50, `back at the place: ${back} against ${scrolled}`);
  });

  it('a search that fails shows no rows of the search before it', async () => {
    await page.route('**/api/v1/recordings/search', (route) => route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"internal error"}' }));
    try {
      await page.getByLabel('Care unit').fill('Akuten');
      await page.locator('main .error').waitFor();
      assert.equal(await rowCount(page), 0, 'the rows of the search before are gone');
      assert.doesNotMatch(await page.locator('#results-heading').innerText(), /found/);
    } finally {
      await page.unroute('**/api/v1/recordings/search');
    }
    await page.getByLabel('Care unit').fill('Barn');
    await waitForRows(page, 1);
  });

  it('on a shared computer, the next person to sign in finds nothing of the last one\'s search', async () => {
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await page.getByLabel('Caller number').fill(STEREO_CALLER);
    await waitForRows(page, 1);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    const since = Date.now();
    await signInWithForm(page, s, other);
    await page.getByRole('heading', { level: 1, name: 'Search calls' }).waitFor();
    await waitForRows(page, 50);
    assert.equal(await page.getByLabel('Caller number').inputValue(), '', 'the caller field is empty');
    // Nothing was searched by that number in the next person's name.
    const searches = await s.archive.db.selectFrom('audit_events').select(['actor_id', 'patient_pseudonym'])
      .where('action', '=', 'recordings.listed').where('at', '>=', since).execute();
    assert.ok(searches.length > 0 && searches.every((e) => e.patient_pseudonym === null), JSON.stringify(searches));
    assert.deepEqual(problems.filter((p) => !/500|internal error/.test(p)), [], 'no page errors besides the failure made on purpose');
  });
});
