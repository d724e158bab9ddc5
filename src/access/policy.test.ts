// The policy as a pure function: properties over random people and recordings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { can, mayBreakGlass, permittedRecordings, recordingActions, RECORDING_ACTIONS, ROLES, type RecordingPermission, type UserPrincipal } from './policy.ts';

const UNITS = ['A', 'B', 'C'];
const RECORDING_PERMISSIONS: RecordingPermission[] = ['recordings:list', 'recordings:view', 'recordings:play', 'recordings:download', 'recordings:export', 'recordings:delete', 'recordings:legal_hold'];

const person = fc.record({
  roles: fc.subarray([...ROLES]),
  careUnits: fc.subarray([...UNITS, '*']),
  agentId: fc.option(fc.constantFrom('a1', 'a2'), { nil: null }),
}).map((p): UserPrincipal => ({ kind: 'user', userId: 'u1', username: 'u', sessionHash: 'h', csrfToken: 't', stepUpAt: null, authMethod: 'password+totp', ...p }));

const recordings = fc.uniqueArray(fc.record({
  id: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 4, maxLength: 4 }),
  care_unit: fc.constantFrom(...UNITS),
  agent_id: fc.option(fc.constantFrom('a1', 'a2'), { nil: null }),
}), { maxLength: 12, selector: (r) => r.id });

describe('access policy', () => {
  it('administrators and auditors reach no recording at all, whatever their scopes or grants', () => {
    fc.assert(fc.property(person, recordings, fc.constantFrom(...RECORDING_PERMISSIONS), (p, rs, perm) => {
      const q = { ...p, roles: p.roles.filter((r) => r === 'administrator' || r === 'auditor') };
      assert.equal(permittedRecordings(q, perm, rs, new Set(rs.map((r) => r.id))).size, 0);
      assert.ok(rs.every((r) => !mayBreakGlass(q, r)));
    }));
  });

  it('a permitted recording is always covered by a role: unit, own call, privacy officer, or a grant for view/play/list', () => {
    fc.assert(fc.property(person, recordings, fc.constantFrom(...RECORDING_PERMISSIONS), fc.boolean(), (p, rs, perm, withGrants) => {
      const granted = new Set(withGrants ? rs.map((r) => r.id) : []);
      for (const id of permittedRecordings(p, perm, rs, granted)) {
        const r = rs.find((x) => x.id === id)!;
        const viaSupervisor = p.roles.includes('supervisor') && (p.careUnits.includes('*') || p.careUnits.includes(r.care_unit)) && perm !== 'recordings:delete' && perm !== 'recordings:legal_hold';
        const viaAgent = p.roles.includes('agent') && p.agentId !== null && r.agent_id === p.agentId && ['recordings:list', 'recordings:view', 'recordings:play'].includes(perm);
        const viaPrivacy = p.roles.includes('privacy_officer') && can(p, perm);
        const viaGrant = granted.has(id) && ['recordings:list', 'recordings:view', 'recordings:play'].includes(perm) && (p.roles.includes('supervisor') || p.roles.includes('agent'));
        assert.ok(viaSupervisor || viaAgent || viaPrivacy || viaGrant, `${JSON.stringify(p.roles)} ${perm} ${JSON.stringify(r)}`);
      }
    }));
  });

  it('a supervisor of a unit reaches exactly that unit\'s recordings', () => {
    fc.assert(fc.property(recordings, fc.constantFrom(...UNITS), (rs, unit) => {
      const p: UserPrincipal = { kind: 'user', userId: 'u', username: 'u', roles: ['supervisor'], careUnits: [unit], agentId: null, sessionHash: 'h', csrfToken: 't', stepUpAt: null, authMethod: 'x' };
      const got = permittedRecordings(p, 'recordings:play', rs);
      assert.deepEqual([...got].sort(), [...new Set(rs.filter((r) => r.care_unit === unit).map((r) => r.id))].sort());
    }));
  });

  it('the actions offered on a recording are exactly those the policy permits, and a grant adds only play', () => {
    fc.assert(fc.property(person, recordings.filter((rs) => rs.length > 0), fc.boolean(), (p, rs, withGrant) => {
      const r = rs[0]!;
      const granted = new Set(withGrant ? [r.id] : []);
      const actions = recordingActions(p, r, granted);
      for (const [a, perm] of Object.entries(RECORDING_ACTIONS)) {
        assert.equal(actions.includes(a as keyof typeof RECORDING_ACTIONS), permittedRecordings(p, perm, [r], granted).has(r.id), `${a} ${JSON.stringify(p.roles)}`);
      }
      const extra = recordingActions(p, r, granted).filter((a) => !recordingActions(p, r).includes(a));
      assert.ok(extra.every((a) => a === 'play'), `a grant adds ${extra.join(', ')}`);
    }));
    const outsider: UserPrincipal = { kind: 'user', userId: 'u', username: 'u', roles: ['supervisor'], careUnits: ['B'], agentId: null, sessionHash: 'h', csrfToken: 't', stepUpAt: null, authMethod: 'x' };
    const r = { id: 'r1', care_unit: 'A', agent_id: null };
    assert.deepEqual(recordingActions(outsider, r, new Set(['r1'])), ['play'], 'break-glass: play only, never download or export');
    assert.deepEqual(recordingActions({ ...outsider, careUnits: ['A'] }, r), ['play', 'download', 'export', 'history']);
  });

  it('anonymous and ingest keys reach nothing', () => {
    fc.assert(fc.property(recordings, fc.constantFrom(...RECORDING_PERMISSIONS), (rs, perm) => {
      assert.equal(permittedRecordings({ kind: 'anonymous' }, perm, rs).size, 0);
      assert.equal(permittedRecordings({ kind: 'api_key', keyId: 'k', scope: 'ingest' }, perm, rs).size, 0);
    }));
  });
});
