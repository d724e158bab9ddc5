import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.ts';

it('hashes with argon2id at OWASP parameters and verifies', async () => {
  const h = await hashPassword('correct horse battery staple');
  assert.match(h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.equal(await verifyPassword('correct horse battery staple', h), true);
  assert.equal(await verifyPassword('correct horse battery stapl', h), false);
  assert.notEqual(await hashPassword('correct horse battery staple'), h, 'salted');
});

it('treats a malformed stored hash as a mismatch', async () => {
  assert.equal(await verifyPassword('x', 'not a hash'), false);
  assert.equal(await verifyPassword('x', '$argon2i$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), false);
});

it('states password rules', () => {
  assert.match(passwordProblem('short')!, /at least 12/);
  assert.equal(passwordProblem('twelve chars'), null);
  assert.match(passwordProblem('x'.repeat(257))!, /at most 256/);
  assert.match(passwordProblem(42)!, /string/);
});
