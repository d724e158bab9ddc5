// Roles, care units and agent id: the part of a person's account that decides what they reach.
import { Choices, TextField } from '../components/Field';
import { useT } from '../context';
import type { Key } from '../i18n';

export const ROLES = ['administrator', 'supervisor', 'agent', 'auditor', 'privacy_officer'] as const;
export const roleKey = (r: string) => `role.${r}` as Key;

export interface Assignment { roles: string[]; careUnits: string; agentId: string }

export const toBody = (a: Assignment) => ({
  roles: a.roles,
  careUnits: a.careUnits.split(',').map((u) => u.trim()).filter(Boolean),
  agentId: a.agentId.trim() || null,
});

export function AssignmentFields(props: { value: Assignment; onChange: (a: Assignment) => void; idPrefix: string }) {
  const t = useT();
  const a = props.value;
  return (
    <>
      <Choices legend={t('users.roles')} type="checkbox" name={`${props.idPrefix}-roles`} selected={a.roles} onChange={(roles) => props.onChange({ ...a, roles })}
        options={ROLES.map((r): [string, string] => [r, t(roleKey(r))])} />
      <TextField label={t('users.careUnits')} hint={t('users.careUnitsHint')} value={a.careUnits} onValue={(careUnits) => props.onChange({ ...a, careUnits })} maxLength={2000} />
      <TextField label={t('users.agentId')} hint={t('users.agentIdHint')} value={a.agentId} onValue={(agentId) => props.onChange({ ...a, agentId })} maxLength={64} />
    </>
  );
}
