// The doors, in the browser: an anonymous visitor sees the sign-in page and nothing else, at
// any app path, and the app asks the API for no data; a wrong code is refused with an announced
// error; a newcomer enrolls from a one-time link and gets recovery codes once; the interface
// speaks Swedish or English (from the browser's language, switchable and remembered) with
// <html lang> to match, a mistyped address and a refused personnummer included; a synthetic call
// says it has no audio; axe-core finds no serious or critical violations in either language.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { base32Decode, totpCode } from '../../src/access/totp.ts';
import { seedCatalog } from '../../src/catalog/seed.ts';
import { enrollPerson, type Person } from '../helpers/archive.ts';
import { assertAppBuilt, axe, freshTotp, launchChromium, newContext, screenshot, signInWithForm, startAppServer, watchProblems, type AppServer, type InPage } from '../helpers/browser.ts';
import { uploadCalls } from './fixtures.ts';

describe('sign-in, enrollment and languages in the browser', () => {
  let s: AppServer;
  let browser: Browser;
  let nurse: Person;
  const watched: string[][] = [];

  before(async () => {
    assertAppBuilt();
    s = await startAppServer();
    await uploadCalls(s);
    nurse = await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['*'] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  const openPage = async (locale = 'en-GB'): Promise<Page> => {
    const page = await (await newContext(browser, locale)).newPage();
    watched.push(watchProblems(page));
    return page;
  };
  const lang = (page: Page) => page.evaluate(() => (globalThis as unknown as InPage).document.documentElement.lang);
  const signInSwedish = async (page: Page, p: Person) => {
    await page.getByLabel('Användarnamn').fill(p.username);
    await page.getByLabel('Lösenord', { exact: true }).fill(p.password);
    await page.getByLabel('Kod från autentiseringsappen', { exact: true }).fill(await freshTotp(s, p));
    await page.getByRole('button', { name: 'Logga in', exact: true }).click();
    await page.getByRole('button', { name: 'Logga ut' }).first().waitFor();
  };

  it('shows an anonymous visitor only the sign-in page, at every app path, and asks for no data', async () => {
    const page = await openPage();
    const asked: string[] = [];
    page.on('request', (r) => { const p = new URL(r.url()).pathname; if (p.startsWith('/api/')) asked.push(`${r.method()} ${p}`); });
    for (const path of ['/', `/recordings/x`, `/recordings/${'a'.repeat(32)}`, '/audit', '/admin/users', '/account']) {
      // The sign-in page asks whether single sign-on is offered once it is drawn (an effect): its
      // answer is waited for (a few seconds at most), so what the page asked and shows is complete.
      const ssoAnswered = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/sso', { timeout: 5000 }).catch(() => undefined);
      const res = await page.goto(`${s.appUrl}${path}`);
      assert.equal(res?.status(), 200, path);
      assert.match(res!.headers()['content-security-policy']!, /script-src 'self'; style-src 'self'/);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await ssoAnswered;
      assert.equal(await page.getByRole('navigation').count(), 0, `${path}: no navigation before sign-in`);
      assert.equal(await page.locator('main table, main audio').count(), 0, path);
    }
    assert.deepEqual([...new Set(asked)].sort(), ['GET /api/v1/session', 'GET /api/v1/sso'], 'only "who am I" and "is single sign-on offered"');
    assert.equal(await page.getByRole('link', { name: 'Sign in with single sign-on' }).count(), 0, 'no single sign-on configured');
    await screenshot(page, 'sign-in');
    assert.deepEqual(await axe(page), []);
    // Keyboard: the skip link comes first and leads to the page's heading.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).document.activeElement?.tagName), 'H1');
  });

  it('offers single sign-on when the server says it is on (a link to /api/v1/sso/start)', async () => {
    const page = await openPage();
    // This server has no identity provider configured (GET /api/v1/sso is 404, and no button
    // shows, as above); here the answer of one that has is given to the page.
    await page.route('**/api/v1/sso', (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ enabled: true, start: '/api/v1/sso/start' }) }));
    await page.goto(`${s.appUrl}/audit`);
    const sso = page.getByRole('link', { name: 'Sign in with single sign-on' });
    await sso.waitFor();
    assert.equal(await sso.getAttribute('href'), '/api/v1/sso/start?returnTo=%2Faudit');
    await page.context().close();
  });

  it('refuses a wrong code with an announced error, and signs in with a recovery code', async () => {
    const page = await openPage();
    await page.goto(`${s.appUrl}/`);
    await page.getByLabel('Username').fill(nurse.username);
    await page.getByLabel('Password', { exact: true }).fill(nurse.password);
    await page.getByLabel('Authenticator code', { exact: true }).fill('000000');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Not accepted' }).waitFor();
    assert.equal(await page.getByRole('navigation').count(), 0);
    await page.getByRole('radio', { name: 'Recovery code' }).check();
    await page.getByLabel('Your recovery code').fill((nurse as Person & { recoveryCodes: string[] }).recoveryCodes[0]!);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Search calls' }).waitFor();
    // Signing out ends the session at the server and shows the sign-in page again.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.equal(await s.archive.db.selectFrom('audit_events').select('seq').where('action', '=', 'auth.logout').execute().then((r) => r.length), 1);
  });

  it('enrolls a newcomer from a one-time link and shows the recovery codes once', async () => {
    const { token } = await s.archive.users.invite({ username: 'newcomer', roles: ['auditor'], careUnits: [], agentId: null, actor: { type: 'operator', id: 'test' } });
    const page = await openPage();
    await page.goto(`${s.appUrl}/enroll#token=${token}`);
    await page.getByRole('heading', { level: 1, name: 'Enroll newcomer' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
    const secret = (await page.locator('p.secret').innerText()).replace(/\s+/g, '');
    assert.deepEqual(await axe(page), []);
    await screenshot(page, 'enroll');
    await page.getByLabel('New password', { exact: true }).fill('tre gröna äpplen i mörkret');
    await page.getByLabel('New password again').fill('tre gröna äpplen i mörkret');
    await page.getByLabel('Code from your authenticator app').fill(totpCode(base32Decode(secret), Date.now()));
    await page.getByRole('button', { name: 'Finish enrollment' }).click();
    await page.getByRole('heading', { level: 1, name: 'You are enrolled' }).waitFor();
    assert.equal(await page.locator('ul.codes li').count(), 10);
    assert.equal((await s.archive.users.byUsername('newcomer'))!.status, 'active');
  });

  it('in Swedish, server refusals, the settings and the audit log read in Swedish too', async () => {
    const chief = await enrollPerson(s, 'chef', { roles: ['administrator', 'auditor'] });
    const page = await openPage('sv-SE');
    await page.goto(`${s.appUrl}/admin/users`);
    await page.getByLabel('Användarnamn').fill(chief.username);
    await page.getByLabel('Lösenord', { exact: true }).fill(chief.password);
    await s.archive.db.updateTable('users').set({ totp_last_step: 0 }).where('username', '=', chief.username).execute();
    await page.getByLabel('Kod från autentiseringsappen', { exact: true }).fill(totpCode(chief.totpSecret, Date.now()));
    await page.getByRole('button', { name: 'Logga in', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Personer' }).waitFor();

    // A refusal the server words in English is shown in Swedish: a username already taken.
    await page.getByRole('button', { name: 'Bjud in en person' }).click();
    const dialog = page.getByRole('dialog', { name: 'Bjud in en person' });
    await dialog.getByLabel('Användarnamn').fill(nurse.username);
    await dialog.getByRole('checkbox', { name: 'Granskare' }).check();
    await dialog.getByRole('button', { name: 'Bjud in', exact: true }).click();
    await dialog.getByRole('alert').filter({ hasText: 'Användarnamnet är upptaget.' }).waitFor();
    await dialog.getByRole('button', { name: 'Avbryt' }).click();
    // And one it has no words for: a sentence for its status, not the server's English.
    await page.getByRole('link', { name: 'API-nycklar' }).click();
    await page.getByLabel('Namn', { exact: true }).fill('pbx');
    await page.getByLabel('Tillåtna källadresser').fill('inte-en-adress');
    await page.getByRole('button', { name: 'Skapa nyckeln' }).click();
    await page.getByRole('alert').filter({ hasText: 'En källadress är inte en IP-adress eller ett CIDR-intervall' }).waitFor();
    await page.route('**/api/v1/keys', (route) => route.fulfill({ status: 409, contentType: 'application/json', body: JSON.stringify({ error: 'something new the app has no words for' }) }));
    await page.getByRole('button', { name: 'Skapa nyckeln' }).click();
    await page.getByRole('alert').filter({ hasText: 'Det går inte just nu' }).waitFor();
    await page.unroute('**/api/v1/keys');

    // The settings: labelled in Swedish, roles described in Swedish, no raw keys.
    await page.getByRole('link', { name: 'Inställningar' }).click();
    await page.getByRole('heading', { level: 1, name: 'Inställningar' }).waitFor();
    await page.getByText('Publik adress').waitFor();
    const settings = await page.locator('main').innerText();
    assert.match(settings, /Nödåtkomst varar \(minuter\)/);
    assert.match(settings, /Personer, API-nycklar och inställningar; inget ljud\./);
    for (const raw of ['publicUrl', 'breakGlassMinutes', 'idleMinutes', 'users, API keys and settings']) assert.ok(!settings.includes(raw), `no raw "${raw}"`);
    assert.deepEqual(await axe(page), []);
    await screenshot(page, 'settings-sv');

    // The audit log names actions in Swedish (the code stays, for filtering) and finds a person by username.
    await page.getByRole('link', { name: 'Granskningslogg' }).click();
    await page.getByRole('heading', { level: 1, name: 'Granskningslogg' }).waitFor();
    await page.getByLabel('Aktör').fill('chef');
    await page.getByLabel('Händelse', { exact: true }).fill('auth.login');
    await Promise.all([
      page.waitForResponse((r) => r.url().includes('/api/v1/audit/events') && r.url().includes('actor=chef')),
      page.getByRole('button', { name: 'Sök i loggen' }).click(),
    ]);
    // The table still shows the whole log, loaded on arrival, until the answer is drawn: wait for
    // the one row asked for (a few seconds at most), then say what the table holds.
    await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll('table.events tbody tr').length === 1, undefined, { timeout: 5000 }).catch(() => undefined);
    const first = page.locator('table.events tbody tr').first();
    await first.waitFor();
    assert.match(await first.innerText(), /inloggning/);
    assert.match(await first.innerText(), /chef/);
    assert.equal(await page.locator('table.events tbody tr').count(), 1, 'only the sign-in of chef');
    assert.deepEqual(await axe(page), []);
    await screenshot(page, 'audit-sv');
    await page.context().close();
  });

  it('answers a mistyped address with the app, which says in Swedish that there is no such page (a 404)', async () => {
    const page = await openPage('sv-SE');
    const res = await page.goto(`${s.appUrl}/nope`);
    assert.equal(res?.status(), 404);
    assert.match(res!.headers()['content-security-policy']!, /script-src 'self'; style-src 'self'/);
    // Anonymous, the app shows its sign-in page there, as at any other address.
    await page.getByRole('heading', { level: 1, name: 'Logga in' }).waitFor();
    await signInSwedish(page, nurse);
    await page.getByRole('heading', { level: 1, name: 'Sidan finns inte' }).waitFor();
    // A slash too many, signed in: the same page, with the navigation to go on from.
    for (const path of ['/audit/', `/recordings/${'a'.repeat(32)}/`]) {
      const again = await page.goto(`${s.appUrl}${path}`);
      assert.equal(again?.status(), 404, path);
      await page.getByRole('heading', { level: 1, name: 'Sidan finns inte' }).waitFor();
      assert.match(await page.locator('main').innerText(), /Det finns ingen sida på den här adressen\./, path);
      assert.equal(await page.getByRole('navigation').getByRole('link', { name: 'Sök samtal' }).count(), 1, path);
    }
    assert.equal(await lang(page), 'sv');
    assert.deepEqual(await axe(page), []);
    await page.context().close();
  });

  it('in Swedish, a personnummer refused for its check digit or its date is named as a personnummer', async () => {
    const auditor = await enrollPerson(s, 'revisor', { roles: ['auditor'] });
    const page = await openPage('sv-SE');
    await page.goto(`${s.appUrl}/audit/extract`);
    await signInSwedish(page, auditor);
    await page.getByRole('heading', { level: 1, name: 'Loggutdrag för patient' }).waitFor();
    await page.getByRole('radio', { name: 'Personnummer' }).check();
    const produce = async (value: string) => {
      await page.getByRole('textbox', { name: 'Personnummer' }).fill(value);
      const [answer] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/audit/extract'),
        page.getByRole('button', { name: 'Ta fram utdraget' }).click(),
      ]);
      return answer.status();
    };
    // 19121212-1212 is valid: a wrong last digit, and a thirteenth month.
    for (const bad of ['19121212-1213', '19121312-1212']) {
      assert.equal(await produce(bad), 400, bad);
      const alert = page.getByRole('alert');
      await alert.waitFor();
      assert.equal((await alert.innerText()).replace(/^!\s*/, ''), 'Inte ett giltigt personnummer: ÅÅÅÅMMDD-NNNN eller ÅÅMMDD-NNNN.', bad);
    }
    assert.equal(await produce('19121212-1212'), 200, 'the form itself works');
    await page.getByText('Ingen åtkomst till patientens samtal finns loggad.').waitFor();
    await page.context().close();
  });

  it('speaks Swedish to a Swedish browser, switches to English and remembers it', async () => {
    const page = await openPage('sv-SE');
    await page.goto(`${s.appUrl}/`);
    await page.getByRole('heading', { level: 1, name: 'Logga in' }).waitFor();
    assert.equal(await lang(page), 'sv');
    assert.deepEqual(await axe(page), []);
    await screenshot(page, 'sign-in-sv');
    await page.getByLabel('Användarnamn').fill(nurse.username);
    await page.getByLabel('Lösenord', { exact: true }).fill(nurse.password);
    await s.archive.db.updateTable('users').set({ totp_last_step: 0 }).where('username', '=', nurse.username).execute();
    await page.getByLabel('Kod från autentiseringsappen', { exact: true }).fill(totpCode(nurse.totpSecret, Date.now()));
    await page.getByRole('button', { name: 'Logga in', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Sök samtal' }).waitFor();
    await page.locator('table.results tbody tr').nth(1).waitFor();
    assert.match(await page.locator('#results-heading').innerText(), /2 träffar/);
    assert.deepEqual(await axe(page), []);
    await screenshot(page, 'search-sv');
    // The page's language changes with its text, not a frame later: a screen reader that reads the
    // new text must not read it with Swedish speech rules (and a test that looks at once must not
    // see 'sv'). The observer runs right after the DOM changes, before anything is painted.
    await page.evaluate(() => {
      const g = globalThis as unknown as InPage & LangWatch;
      g.langWithEnglishText = null;
      new g.MutationObserver(() => {
        if (g.langWithEnglishText === null && g.document.querySelector('main h1')?.textContent === 'Search calls') {
          g.langWithEnglishText = g.document.documentElement.lang;
        }
      }).observe(g.document.documentElement, { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole('button', { name: 'In English' }).click();
    await page.getByRole('heading', { level: 1, name: 'Search calls' }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as LangWatch).langWithEnglishText), 'en', 'lang="en" as the English text appears');
    assert.equal(await lang(page), 'en');
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Search calls' }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as unknown as InPage).localStorage.getItem('callvault.lang')), 'en');
    assert.equal(await lang(page), 'en');
    assert.deepEqual(watched.flat(), [], 'no page errors and no CSP violations');
  });

  // Last: the synthetic calls are in the nurse's scope, and the tests above count her calls.
  it('shows a synthetic call (metadata only) as having no audio: no player, no download, no export', async () => {
    await seedCatalog(s.archive.db, s.archive.blindIndex, { calls: 3, days: 30 });
    const { id } = await s.archive.db.selectFrom('recordings').select('id').where('flags', '=', '["synthetic"]').executeTakeFirstOrThrow();
    const page = await openPage();
    const problems = watched.at(-1)!;
    const asked: string[] = [];
    page.on('request', (r) => { asked.push(new URL(r.url()).pathname); });
    await page.goto(`${s.appUrl}/recordings/${id}`);
    await signInWithForm(page, s, nurse);
    await page.getByRole('heading', { level: 1, name: /^Call of / }).waitFor();
    assert.equal(await page.getByRole('region', { name: 'Listen' }).count(), 0, 'no player');
    assert.equal(await page.locator('main audio, main canvas').count(), 0, 'no audio element, no waveform');
    assert.equal(await page.getByRole('button', { name: 'Download the audio' }).count(), 0, 'no download');
    assert.equal(await page.getByRole('button', { name: 'Export as an age file' }).count(), 0, 'no export');
    await page.getByText('This record has no audio (a synthetic call).').waitFor();
    assert.match(await page.locator('dl.details').innerText(), /Synthetic \(no audio\)/, 'the details are shown');
    assert.deepEqual(asked.filter((p) => /\/(audio|waveform|download|export)$/.test(p)), [], 'nothing asked of audio it does not have');
    assert.deepEqual(await axe(page), []);
    assert.deepEqual(problems, []);
    await page.context().close();
  });
});

/** A page global the language test sets: the page's language at the moment its heading turned English. */
interface LangWatch {
  langWithEnglishText: string | null;
  MutationObserver: new (callback: () => void) => { observe(target: unknown, options: { subtree: boolean; childList: boolean; characterData: boolean }): void };
}
