// A privacy officer in the browser: puts a call under legal hold (erasure is then not offered),
// releases it with a fresh second factor, exports the call for the patient as an age file that
// the stock age tool opens with the patient's key, and erases it after confirming the basis.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { generateIdentity } from '../../src/seal/index.ts';
import { decryptedAudio, enrollPerson, type Person } from '../helpers/archive.ts';
import { assertAppBuilt, axe, launchChromium, newContext, screenshot, signInWithForm, startAppServer, watchProblems, type AppServer } from '../helpers/browser.ts';
import { STEREO_CALLER, uploadCalls, type Calls } from './fixtures.ts';

describe('privacy officer in the browser', () => {
  let s: AppServer;
  let browser: Browser;
  let calls: Calls;
  let officer: Person;
  let page: Page;
  let problems: string[];

  before(async () => {
    assertAppBuilt();
    s = await startAppServer();
    calls = await uploadCalls(s);
    officer = await enrollPerson(s, 'dataskydd', { roles: ['privacy_officer'] });
    browser = await launchChromium();
    page = await (await newContext(browser)).newPage();
    problems = watchProblems(page);
    await page.goto(`${s.appUrl}/recordings/${calls.stereo}`);
    await signInWithForm(page, s, officer);
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('holds, and while held offers no erasure', async () => {
    const section = page.getByRole('region', { name: 'Data protection' });
    await section.getByRole('button', { name: 'Put under legal hold' }).click();
    await section.getByText('This call is under legal hold').waitFor();
    assert.equal(await section.getByRole('button', { name: 'Erase this call…' }).count(), 0);
    const row = await s.archive.db.selectFrom('recordings').select('legal_hold').where('id', '=', calls.stereo).executeTakeFirstOrThrow();
    assert.equal(row.legal_hold, 1);
    await screenshot(page, 'privacy');
    assert.deepEqual(await axe(page), []);
  });

  it('answers the patient who asks who accessed their calls: the log extract, from the navigation', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Patient log extract' }).click();
    await page.getByRole('heading', { level: 1, name: 'Patient log extract' }).waitFor();
    await page.getByRole('textbox', { name: 'Phone number' }).fill(STEREO_CALLER);
    await page.getByRole('button', { name: 'Produce the extract' }).click();
    const table = page.locator('section.print-area table');
    await table.waitFor();
    assert.match(await table.innerText(), /viewed the call details/);
    assert.equal(await page.getByRole('link', { name: 'Audit log' }).count(), 0, 'the rest of the log is not the privacy officer\'s');
    await page.goto(`${s.appUrl}/recordings/${calls.stereo}`);
    await page.getByRole('region', { name: 'Data protection' }).waitFor();
  });

  it('exports for the patient: the age tool opens it with their key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'callvault-privacy-'));
    try {
      const patient = generateIdentity();
      const section = page.getByRole('region', { name: 'Data protection' });
      await section.getByLabel("The patient's age public key (age1…)").fill(patient.recipient);
      const [download] = await Promise.all([page.waitForEvent('download'), section.getByRole('button', { name: 'Export as an age file' }).click()]);
      const file = join(dir, 'call.age');
      await download.saveAs(file);
      writeFileSync(join(dir, 'key.txt'), `${patient.identity}\n`);
      execFileSync('age', ['-d', '-i', join(dir, 'key.txt'), '-o', join(dir, 'call.wav'), file]);
      assert.deepEqual(readFileSync(join(dir, 'call.wav')), await decryptedAudio(s.archive, calls.stereo));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('releases the hold after a fresh second factor, then erases with a stated basis', async () => {
    await s.archive.db.updateTable('sessions').set({ step_up_at: Date.now() - 10 * 60_000 }).execute();
    const section = page.getByRole('region', { name: 'Data protection' });
    await section.getByRole('button', { name: 'Release the legal hold' }).click();
    const stepUp = page.getByRole('dialog', { name: 'Confirm it is you' });
    await stepUp.waitFor();
    await s.archive.db.updateTable('users').set({ totp_last_step: 0 }).where('username', '=', 'dataskydd').execute();
    const { totpCode } = await import('../../src/access/totp.ts');
    await stepUp.getByLabel('Authenticator code or recovery code').fill(totpCode(officer.totpSecret, Date.now()));
    await stepUp.getByRole('button', { name: 'Confirm', exact: true }).click();
    await section.getByText('No legal hold.').waitFor();
    await section.getByRole('button', { name: 'Erase this call…' }).click();
    const confirm = page.getByRole('dialog', { name: 'Erase this call for good' });
    await confirm.getByLabel('Legal basis').selectOption('data_subject_request');
    await confirm.getByRole('button', { name: 'Erase for good' }).click();
    await page.locator('p.notice').getByText('The call has been erased.').waitFor(); // seen where the call was, not only spoken
    const row = await s.archive.db.selectFrom('recordings').select(['erased_at']).where('id', '=', calls.stereo).executeTakeFirstOrThrow();
    assert.ok(row.erased_at);
    assert.deepEqual(problems, []);
  });

  it('says so when the storage does not answer: the call is erased, its audio goes once the storage is back', async () => {
    // Fault injection around the real store (an outage cannot be had on demand): deletes fail.
    const store = s.archive.store;
    const realDelete = store.delete.bind(store);
    store.delete = () => Promise.reject(new Error('connect ECONNREFUSED (injected)'));
    try {
      await page.goto(`${s.appUrl}/recordings/${calls.mono}`);
      const section = page.getByRole('region', { name: 'Data protection' });
      await section.getByRole('button', { name: 'Erase this call…' }).click();
      const confirm = page.getByRole('dialog', { name: 'Erase this call for good' });
      await confirm.getByLabel('Legal basis').selectOption('unlawful_recording');
      await confirm.getByRole('button', { name: 'Erase for good' }).click();
      await page.locator('p.notice').getByText(/The storage did not answer in time/).waitFor();
      assert.equal(await s.running.purge.pending(), 1);
    } finally {
      store.delete = realDelete;
    }
    await s.running.purge.run();
    assert.equal(await s.running.purge.pending(), 0);
    assert.deepEqual(problems, []);
  });
});
