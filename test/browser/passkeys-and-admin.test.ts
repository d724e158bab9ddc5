// Passkeys and administration, in the browser. With Chromium's virtual authenticator (over the
// DevTools protocol, WebAuthn.addVirtualAuthenticator) a nurse adds a passkey on her account
// page, signs in with it alone, and steps up with it. An administrator invites a person (the
// enrollment link is shown once), changes someone's scope, disables and enables them, creates
// and revokes an API key (its secret shown once), and reads the settings. axe-core finds no
// serious or critical violations on these pages.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { enrollAdmin, enrollPerson, type Person } from '../helpers/archive.ts';
import { assertAppBuilt, axe, freshTotp, launchChromium, newContext, screenshot, signInWithForm, startAppServer, watchProblems, type AppServer } from '../helpers/browser.ts';

describe('passkeys and administration in the browser', () => {
  let s: AppServer;
  let browser: Browser;
  let nurse: Person;
  let admin: Person;
  const watched: string[][] = [];

  before(async () => {
    assertAppBuilt();
    s = await startAppServer();
    nurse = await enrollPerson(s, 'nurse', { roles: ['supervisor'], careUnits: ['Akuten'] });
    admin = await enrollAdmin(s);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  const openPage = async (): Promise<Page> => {
    const page = await (await newContext(browser)).newPage();
    watched.push(watchProblems(page));
    // The app asks before revoking or resetting; the tests say yes.
    page.on('dialog', (d) => void d.accept());
    return page;
  };

  it('adds a passkey, signs in with it alone, and steps up with it', async () => {
    const page = await openPage();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.goto(`${s.appUrl}/account`);
    await signInWithForm(page, s, nurse);
    await page.getByRole('heading', { level: 1, name: 'My account' }).waitFor();
    await page.getByText('You have no passkeys.').waitFor();
    await page.getByLabel('Name of the new passkey').fill('desk laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByText('desk laptop').waitFor();
    assert.equal(await s.archive.db.selectFrom('passkeys').select('id').execute().then((r) => r.length), 1);
    await screenshot(page, 'account');
    assert.deepEqual(await axe(page), []);

    await page.getByRole('button', { name: 'Sign out' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('button', { name: 'Sign out' }).first().waitFor();
    const how = await s.archive.db.selectFrom('audit_events').select('details').where('action', '=', 'auth.login').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    assert.match(how.details ?? '', /passkey/);

    // Step-up with the passkey: new recovery codes need the second factor within 5 minutes.
    await s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 6 * 60_000 }).execute();
    await page.getByRole('link', { name: 'My account' }).click();
    await page.getByRole('button', { name: 'Make new recovery codes' }).click();
    const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Use a passkey' }).click();
    await dialog.waitFor({ state: 'hidden' });
    // The dialog closes before the retried request answers: wait for the codes, then count them.
    await page.locator('ul.codes li').first().waitFor();
    assert.equal(await page.locator('ul.codes li').count(), 10);
  });

  let page: Page;

  it('an administrator invites a person and sees the enrollment link once', async () => {
    page = await openPage();
    await page.goto(`${s.appUrl}/`);
    await signInWithForm(page, s, admin);
    await page.waitForURL('**/admin/users');
    await page.getByRole('heading', { level: 1, name: 'People' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Search calls' }).count(), 0, 'administrators hear no audio');
    await page.getByRole('row', { name: /nurse/ }).waitFor();
    await page.getByRole('button', { name: 'Invite a person' }).click();
    const dialog = page.getByRole('dialog', { name: 'Invite a person' });
    await dialog.waitFor();
    await dialog.getByLabel('Username').fill('agent1');
    await dialog.getByRole('checkbox', { name: 'Agent' }).check();
    await dialog.getByLabel('Agent id').fill('agent-7');
    assert.deepEqual(await axe(page), []);
    await dialog.getByRole('button', { name: 'Invite', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    const link = await page.locator('.secret-box p.secret').innerText();
    assert.match(link, new RegExp(`^${s.appUrl}/enroll#token=`));
    await page.getByRole('row', { name: /agent1/ }).getByText('Invited').waitFor();
    await screenshot(page, 'users');
    assert.deepEqual(await axe(page), []);
  });

  it('changes a person\'s scope, disables and enables them', async () => {
    await page.getByRole('button', { name: 'Edit nurse' }).click();
    const dialog = page.getByRole('dialog', { name: 'Roles and scope of nurse' });
    await dialog.getByLabel('Care units').fill('Akuten, Barn');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('row', { name: /nurse/ }).getByText('Akuten, Barn').waitFor();
    assert.deepEqual((await s.archive.users.byUsername('nurse'))!.careUnits, ['Akuten', 'Barn']);
    await page.getByRole('button', { name: 'Disable nurse' }).click();
    await page.getByRole('button', { name: 'Enable nurse' }).waitFor();
    assert.equal((await s.archive.users.byUsername('nurse'))!.status, 'disabled');
    await page.getByRole('button', { name: 'Enable nurse' }).click();
    await page.getByRole('button', { name: 'Disable nurse' }).waitFor();
    assert.equal((await s.archive.users.byUsername('nurse'))!.status, 'active');
  });

  it('asks the administrator for the second factor again when it is stale, then manages people and keys', async () => {
    // User and key management need the second factor proven within 5 minutes.
    const adminId = (await s.archive.users.byUsername(admin.username))!.id;
    const stale = () => s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 6 * 60_000 }).where('user_id', '=', adminId).execute();
    const confirm = async () => {
      const dialog = page.getByRole('dialog', { name: 'Confirm it is you' });
      await dialog.waitFor();
      await dialog.getByLabel('Authenticator code or recovery code').fill(await freshTotp(s, admin));
      await dialog.getByRole('button', { name: 'Confirm' }).click();
      await dialog.waitFor({ state: 'hidden' });
    };
    await stale();
    await page.getByRole('button', { name: 'Disable nurse' }).click();
    await confirm();
    await page.getByRole('button', { name: 'Enable nurse' }).waitFor();
    assert.equal((await s.archive.users.byUsername('nurse'))!.status, 'disabled');
    await stale();
    await page.getByRole('button', { name: 'Enable nurse' }).click();
    await confirm();
    await page.getByRole('button', { name: 'Disable nurse' }).waitFor();
    assert.equal((await s.archive.users.byUsername('nurse'))!.status, 'active');

    // From inside the edit dialog: the step-up dialog opens over it, and saving goes through.
    await stale();
    await page.getByRole('button', { name: 'Edit nurse' }).click();
    const edit = page.getByRole('dialog', { name: 'Roles and scope of nurse' });
    await edit.getByLabel('Care units').fill('Akuten');
    await edit.getByRole('button', { name: 'Save' }).click();
    await confirm();
    await edit.waitFor({ state: 'hidden' });
    assert.deepEqual((await s.archive.users.byUsername('nurse'))!.careUnits, ['Akuten']);

    await stale();
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('pbx-stale');
    await page.getByRole('button', { name: 'Create the key' }).click();
    await confirm();
    assert.ok(await s.archive.apiKeys.verify(await page.locator('.secret-box p.secret').innerText()), 'the key was created after the step-up');
    await stale();
    await page.getByRole('button', { name: 'Revoke pbx-stale' }).click();
    await confirm();
    await page.getByRole('row', { name: /pbx-stale/ }).getByText(/^Revoked/).waitFor();
    assert.equal(await page.getByText(/confirm your second factor again/).count(), 0, 'no raw server message');
    await page.getByRole('link', { name: 'People' }).click();
    await page.getByRole('heading', { level: 1, name: 'People' }).waitFor();
  });

  it('creates an API key (secret shown once) and revokes it; reads the settings', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('pbx-2');
    await page.getByLabel('Allowed source ranges').fill('10.1.0.0/16');
    await page.getByLabel('Requests per second').fill('100');
    await page.getByRole('button', { name: 'Create the key' }).click();
    const token = await page.locator('.secret-box p.secret').innerText();
    assert.ok(token.length > 20);
    assert.ok(await s.archive.apiKeys.verify(token), 'the shown secret is the key');
    await page.getByRole('row', { name: /pbx-2/ }).waitFor();
    await screenshot(page, 'keys');
    assert.deepEqual(await axe(page), []);
    await page.getByRole('button', { name: 'Revoke pbx-2' }).click();
    await page.getByRole('row', { name: /pbx-2/ }).getByText(/^Revoked/).waitFor();
    assert.equal(await s.archive.apiKeys.verify(token), null);

    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
    await page.getByText(s.appUrl).first().waitFor();
    await screenshot(page, 'settings');
    assert.deepEqual(await axe(page), []);
    assert.deepEqual(watched.flat(), [], 'no page errors and no CSP violations');
  });
});
