// `callvault user ...` as an operator runs it: a real child process over a real archive.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openTestArchive, releaseTestArchivesUnder } from './helpers/catalog.ts';
import { runCli, tempRoot } from './helpers/cli.ts';

describe('callvault user', () => {
  let root: string;
  let data: string;
  before(async () => {
    root = await tempRoot();
    data = join(root, 'archive');
    assert.equal((await runCli(['init', '--data', data])).code, 0);
  });
  after(async () => {
    await releaseTestArchivesUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('invites with roles and units, prints a one-time link, and lists the person', async () => {
    const r = await runCli(['user', 'invite', '--data', data, 'lisa', '--role', 'supervisor', '--role', 'agent', '--unit', '1177 Stockholm', '--unit', 'Barn', '--agent', 'agent-7']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\/enroll#token=[A-Za-z0-9_-]{43}/);
    const list = await runCli(['user', 'list', '--data', data]);
    const line = list.stdout.split('\n').find((l) => l.startsWith('lisa'));
    assert.ok(line, list.stdout);
    assert.match(line, /invited\s+supervisor,agent\s+units: 1177 Stockholm,Barn\s+agent: agent-7/);
  });

  it('assigns, disables, enables and resets, each audited with the operator as actor', async () => {
    assert.equal((await runCli(['user', 'assign', '--data', data, 'lisa', '--role', 'auditor'])).code, 0);
    assert.equal((await runCli(['user', 'disable', '--data', data, 'lisa'])).code, 0);
    const enabled = await runCli(['user', 'enable', '--data', data, 'lisa']);
    assert.match(enabled.stdout, /Enabled lisa \(invited\)/);
    const link = await runCli(['user', 'link', '--data', data, 'lisa']);
    assert.match(link.stdout, /enroll#token=/);
    const a = await openTestArchive(data);
    try {
      const u = await a.users.byUsername('lisa');
      assert.deepEqual(u?.roles, ['auditor']);
      const events = await a.db.selectFrom('audit_events').select(['action', 'actor_type']).where('object_id', '=', u!.id).orderBy('seq').execute();
      assert.deepEqual(events.map((e) => e.action), ['user.invited', 'auth.enrollment_issued', 'user.updated', 'user.disabled', 'user.enabled', 'auth.enrollment_issued']);
      assert.ok(events.every((e) => e.actor_type === 'operator'));
    } finally {
      await a.close();
    }
  });

  it('bad input: unknown role or user, missing agent id, duplicate name; clear messages and non-zero exits', async () => {
    const role = await runCli(['user', 'invite', '--data', data, 'mats', '--role', 'root']);
    assert.equal(role.code, 2);
    assert.match(role.stderr, /unknown role "root"/);
    const agent = await runCli(['user', 'invite', '--data', data, 'mats', '--role', 'agent']);
    assert.equal(agent.code, 1);
    assert.match(agent.stderr, /agent needs the agent id/);
    const dup = await runCli(['user', 'invite', '--data', data, 'lisa', '--role', 'auditor']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
    const nobody = await runCli(['user', 'disable', '--data', data, 'nobody']);
    assert.equal(nobody.code, 2);
    assert.match(nobody.stderr, /no user nobody/);
  });
});
