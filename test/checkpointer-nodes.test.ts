// Two nodes on one catalog each run a checkpointer: a size is signed once, the other node
// leaves it, neither fails, and the log verifies.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCheckpointer, logOrigin } from '../src/audit/checkpointer.ts';
import { createDirWitness } from '../src/audit/witness.ts';
import { startTestServer, type TestServer } from './helpers/archive.ts';
import { runCli } from './helpers/cli.ts';

describe('checkpointers of several nodes', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(() => s.close());

  it('sign each size once between them', async () => {
    const witness = createDirWitness(`${s.dir}-witness`);
    const deps = { db: s.archive.db, signingKey: s.archive.keys.auditSigningKey(), origin: logOrigin(s.archive.keys.archiveRecipient), witness };
    const [a, b] = [createCheckpointer(deps), createCheckpointer(deps)];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 5; i++) await s.archive.audit.record({ action: 'auth.logout', actor: { type: 'system', id: 'test' }, outcome: 'success', details: { round, i } });
      const [x, y] = await Promise.all([a.checkpoint(), b.checkpoint()]);
      assert.equal([x, y].filter((c) => c !== null).length, 1, `round ${round}: one of them signs`);
    }
    const sizes = (await s.archive.db.selectFrom('audit_checkpoints').select('size').execute()).map((r) => r.size);
    assert.equal(new Set(sizes).size, sizes.length);
    const verify = await runCli(['audit', 'verify', '--data', s.dir]);
    assert.equal(verify.code, 0, verify.stderr);
  });
});
