// Emergency access and its trail, in the browser: a supervisor of another care unit follows a
// link to a call, signs in, is offered break-glass, must give a reason, is warned that it is
// logged and reviewed, and then plays the call. An auditor finds that play in the audit
// timeline, sees the alert, reviews the access, verifies the log and produces the patient's
// log extract. axe-core finds no serious or critical violations on any of these pages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { enrollPerson, type Person } from '../helpers/archive.ts';
import { assertAppBuilt, axe, launchChromium, newContext, screenshot, signInWithForm, startAppServer, watchProblems, type AppServer, type InPage } from '../helpers/browser.ts';
import { STEREO_CALLER, uploadCalls, type Calls } from './fixtures.ts';

const REASON = 'Patient called back with chest pain; the regular nurse is unreachable.';

describe('break-glass and the audit trail in the browser', () => {
  let s: AppServer;
  let browser: Browser;
  let calls: Calls;
  let outsider: Person;
  let auditor: Person;
  let outsiderId: string;
  const watched: string[][] = [];

  before(async () => {
    assertAppBuilt();
    s = await startAppServer();
    calls = await uploadCalls(s);
    outsider = await enrollPerson(s, 'barnchef', { roles: ['supervisor'], careUnits: ['Barn'] });
    auditor = await enrollPerson(s, 'granskare', { roles: ['auditor'] });
    outsiderId = (await s.archive.users.byUsername('barnchef'))!.id;
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  const openPage = async (): Promise<Page> => {
    const page = await (await newContext(browser)).newPage();
    watched.push(watchProblems(page));
    return page;
  };

  it('a supervisor of another unit gets break-glass only with a reason, is warned, and then plays the call', async () => {
    const page = await openPage();
    await page.goto(`${s.appUrl}/recordings/${calls.stereo}`);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await signInWithForm(page, s, outsider);
    assert.ok(page.url().endsWith(`/recordings/${calls.stereo}`), 'signing in keeps the link that was followed');
    const dialog = page.getByRole('dialog', { name: 'Emergency access (break-glass)' });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /written to the audit log, raises an alert, and is reviewed afterwards/);
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.tagName), 'TEXTAREA', 'focus starts in the dialog');
    await screenshot(page, 'break-glass');
    assert.deepEqual(await axe(page), []);
    await dialog.getByLabel('Reason (required)').fill('urgent');
    await dialog.getByRole('button', { name: 'Open with emergency access' }).click();
    await dialog.getByText('Give a reason of at least 10 characters.').waitFor();
    assert.equal(await s.archive.db.selectFrom('break_glass').select('id').execute().then((r) => r.length), 0);
    await dialog.getByLabel('Reason (required)').fill(REASON);
    await dialog.getByRole('button', { name: 'Open with emergency access' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText(/Emergency access granted until/).first().waitFor();
    await page.getByRole('heading', { level: 1, name: /^Call of / }).waitFor();
    // Break-glass opens playback only: the page offers nothing the grant does not allow.
    await page.getByRole('region', { name: 'Listen' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Download the audio' }).count(), 0, 'no download under break-glass');
    assert.equal(await page.getByRole('button', { name: 'Export as an age file' }).count(), 0, 'no export under break-glass');
    assert.equal(await page.getByRole('region', { name: 'Access history' }).count(), 0, 'no access history under break-glass');
    await page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('audio')!.play());
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelector('audio')!.currentTime > 0.3);
    await page.evaluate(() => (globalThis as unknown as InPage).document.querySelector('audio')!.pause());
    const played = await s.archive.db.selectFrom('audit_events').select(['actor_id', 'object_id']).where('action', '=', 'recording.played').execute();
    assert.ok(played.some((p) => p.actor_id === outsiderId && p.object_id === calls.stereo));
    await page.context().close();
  });

  let page: Page;

  it('an auditor lands on the audit log and finds that play in the timeline', async () => {
    page = await openPage();
    await page.goto(`${s.appUrl}/`);
    await signInWithForm(page, s, auditor);
    await page.waitForURL('**/audit');
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Search calls' }).count(), 0, 'an auditor hears no audio and is not offered the search');
    await page.getByLabel('Action').fill('recording.played');
    await page.getByLabel('Recording id').fill(calls.stereo);
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/v1/audit/events') && r.url().includes('recording.played')),
      page.getByRole('button', { name: 'Search the log' }).click(),
    ]);
    const rows = page.locator('table.events tbody tr');
    // The table still shows the whole log, loaded on arrival, until the answer is drawn: wait for a
    // table of plays only (a few seconds at most), then say what it holds.
    await rows.filter({ hasNotText: 'recording.played' }).first().waitFor({ state: 'detached', timeout: 5000 }).catch(() => undefined);
    await rows.first().waitFor();
    const text = await page.locator('table.events tbody').innerText();
    assert.match(text, new RegExp(outsiderId), 'the play is attributed to the supervisor who broke the glass');
    assert.match(text, /recording\.played/);
    await screenshot(page, 'audit');
    assert.deepEqual(await axe(page), []);
  });

  it('pages older events with the filters the list was made with, and keeps the keyboard\'s focus', async () => {
    // 250 more events of one action (the calls' upload key made the first), newer than the
    // sign-ins: three pages of 100.
    await Promise.all(Array.from({ length: 250 }, (_, i) => s.archive.audit.record({
      action: 'apikey.created', actor: { type: 'operator', id: 'paging' }, outcome: 'success', object: { type: 'api_key', id: `key-${i}` },
    })));
    const total = (await s.archive.db.selectFrom('audit_events').select('seq').where('action', '=', 'apikey.created').execute()).length;
    assert.ok(total > 200 && total <= 300, `${total} events`);
    const rows = page.locator('table.events tbody tr');
    const rowCount = (n: number) => page.waitForFunction((want) => (globalThis as unknown as InPage).document.querySelectorAll('table.events tbody tr').length === want, n, { timeout: 5000 })
      .catch(() => undefined);
    const focused = () => page.evaluate(() => {
      const el = (globalThis as unknown as InPage).document.activeElement;
      return `${el?.tagName} ${el?.textContent}`;
    });
    await page.getByLabel('Action').fill('apikey.created');
    await page.getByLabel('Recording id').fill('');
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/v1/audit/events') && r.url().includes('apikey.created')),
      page.getByRole('button', { name: 'Search the log' }).click(),
    ]);
    await rowCount(100);
    assert.equal(await rows.count(), 100);

    // The form is changed but not searched: the list shown, and its older pages, are still those
    // of apikey.created (older sign-ins, which auth. would find, must not creep in).
    await page.getByLabel('Action').fill('auth.');
    const older = page.getByRole('button', { name: 'Older events' });
    await older.focus();
    await page.keyboard.press('Enter');
    await rowCount(200);
    const actions = await page.locator('table.events tbody tr td:nth-child(3) code').allInnerTexts();
    assert.equal(actions.length, 200);
    assert.deepEqual([...new Set(actions)], ['apikey.created']);
    // Focus stays on the button (busy, it is not disabled: a disabled button drops the focus to <body>).
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.activeElement?.textContent === 'Older events', undefined, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await focused(), 'BUTTON Older events');

    // A second Enter while the next page is on its way asks for nothing more; the last page
    // arrives, the button goes, and focus goes to the count of the events shown.
    const isEvents = (url: URL) => url.pathname === '/api/v1/audit/events';
    await page.route(isEvents, async (route) => {
      await new Promise((r) => setTimeout(r, 500));
      await route.continue().catch(() => undefined);
    });
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter');
    await rowCount(total);
    await page.unroute(isEvents);
    assert.equal(await rows.count(), total, 'the last page once');
    assert.deepEqual([...new Set(await page.locator('table.events tbody tr td:nth-child(3) code').allInnerTexts())], ['apikey.created']);
    assert.equal(await older.count(), 0, 'no older page');
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.activeElement?.tagName === 'H2', undefined, { timeout: 5000 }).catch(() => undefined);
    assert.equal(await focused(), `H2 Events ${total} shown`);
    assert.deepEqual(await axe(page), []);
  });

  it('sees the alert, and closes the break-glass review with a verdict', async () => {
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.getByRole('heading', { level: 1, name: 'Alerts' }).waitFor();
    await page.getByRole('cell', { name: 'break_glass' }).first().waitFor();
    assert.deepEqual(await axe(page), []);
    await page.getByRole('link', { name: 'Emergency access reviews' }).click();
    await page.getByRole('heading', { level: 1, name: 'Emergency access reviews' }).waitFor();
    const item = page.locator('ul.cards > li').first();
    await item.waitFor();
    assert.match(await item.innerText(), /barnchef/);
    assert.match(await item.innerText(), /chest pain/);
    await screenshot(page, 'reviews');
    assert.deepEqual(await axe(page), []);
    await item.getByRole('radio', { name: 'Justified', exact: true }).check();
    await item.getByLabel('Note').fill('Checked against the callback log.');
    await item.getByRole('button', { name: 'Close the review' }).click();
    await page.getByText('Nothing to review.').waitFor();
    const reviewed = await s.archive.db.selectFrom('break_glass').select(['review_state', 'review_verdict']).execute();
    assert.deepEqual(reviewed.map((r) => r.review_verdict), ['justified']);
  });

  it('verifies the log and produces a patient log extract', async () => {
    await page.getByRole('link', { name: 'Log integrity' }).click();
    await page.getByRole('heading', { level: 1, name: 'Log integrity' }).waitFor();
    await page.getByRole('button', { name: 'Verify now' }).click();
    await page.getByText('Passed', { exact: true }).waitFor();
    await screenshot(page, 'integrity');
    assert.deepEqual(await axe(page), []);
    await page.getByRole('link', { name: 'Patient log extract' }).click();
    await page.getByRole('heading', { level: 1, name: 'Patient log extract' }).waitFor();
    await page.getByRole('textbox', { name: 'Phone number' }).fill(STEREO_CALLER);
    await page.getByRole('button', { name: 'Produce the extract' }).click();
    const table = page.locator('section.print-area table');
    await table.waitFor();
    assert.match(await table.innerText(), /listened to the call/);
    assert.match(await table.innerText(), /emergency access/);
    assert.equal(await page.getByRole('button', { name: 'Print', exact: true }).count(), 1);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download the printable page' }).click()]);
    assert.equal(download.suggestedFilename(), 'log-extract.html');
    await screenshot(page, 'extract');
    assert.deepEqual(await axe(page), []);
    assert.deepEqual(watched.flat(), [], 'no page errors and no CSP violations');
  });
});
