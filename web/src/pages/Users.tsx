// People (administrators): the list, inviting someone (the enrollment link is shown once),
// changing roles and scope, disabling and enabling, resetting the second factor.
import { useEffect, useState } from 'preact/hooks';
import { api, get, post } from '../api';
import { announce } from '../announce';
import { Dialog } from '../components/Dialog';
import { ErrorText, TextField, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { Secret } from '../components/Secret';
import { useStepUp } from '../components/StepUp';
import { useLang } from '../context';
import type { Key } from '../i18n';
import { dateTime } from '../format';
import { AssignmentFields, roleKey, toBody, type Assignment } from './UserForm';

interface User { id: string; username: string; status: string; roles: string[]; careUnits: string[]; agentId: string | null; signIn: string; passkeys: number; createdAt: string }
type Editing = { kind: 'invite' } | { kind: 'edit'; user: User } | null;

export function Users() {
  const { t, lang } = useLang();
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState('');
  const [editing, setEditing] = useState<Editing>(null);
  const [link, setLink] = useState<{ username: string; url: string } | null>(null);
  const withStepUp = useStepUp();
  const load = () => get<{ items: User[] }>('/api/v1/users').then((r) => setUsers(r.items), (e) => setError(errorText(t, e)));
  useEffect(() => { void load(); }, []);

  const act = async (u: User, what: 'disable' | 'enable' | 'reset-second-factor' | 'enrollment') => {
    if (what === 'reset-second-factor' && !window.confirm(t('users.confirmReset', { name: u.username }))) return;
    setError('');
    try {
      // Managing people needs the second factor proven within minutes: asked for here if stale.
      const done = await withStepUp(async () => ({ r: await post<{ enrollUrl?: string } | undefined>(`/api/v1/users/${u.id}/${what}`) }));
      if (!done) return;
      if (done.r?.enrollUrl) setLink({ username: u.username, url: done.r.enrollUrl });
      announce(t(`users.done.${what}` as Key, { name: u.username }));
      await load();
    } catch (e) {
      setError(errorText(t, e));
    }
  };

  return (
    <Page title={t('users.title')} actions={<button type="button" onClick={() => { setLink(null); setEditing({ kind: 'invite' }); }}>{t('users.invite')}</button>}>
      <ErrorText>{error}</ErrorText>
      {link ? <Secret label={t('users.linkFor', { name: link.username })} value={link.url} /> : null}
      {users ? (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">{t('users.title')}</caption>
            <thead><tr>
              <th scope="col">{t('users.username')}</th><th scope="col">{t('users.roles')}</th><th scope="col">{t('users.careUnits')}</th><th scope="col">{t('users.agentId')}</th>
              <th scope="col">{t('users.status')}</th><th scope="col">{t('users.signIn')}</th><th scope="col">{t('users.created')}</th><th scope="col">{t('users.actions')}</th>
            </tr></thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <th scope="row">{u.username}</th>
                  <td>{u.roles.map((r) => t(roleKey(r))).join(', ')}</td>
                  <td>{u.careUnits.join(', ')}</td>
                  <td>{u.agentId ?? ''}</td>
                  <td>{t(`status.${u.status}` as Key)}</td>
                  <td>{u.signIn === 'sso' ? t('users.sso') : t('users.local', { n: u.passkeys })}</td>
                  <td>{dateTime(lang, u.createdAt)}</td>
                  <td class="actions">
                    <button type="button" class="secondary small" aria-label={t('users.editFor', { name: u.username })} onClick={() => setEditing({ kind: 'edit', user: u })}>{t('users.edit')}</button>
                    {u.status === 'disabled'
                      ? <button type="button" class="secondary small" aria-label={t('users.enableFor', { name: u.username })} onClick={() => void act(u, 'enable')}>{t('users.enable')}</button>
                      : <button type="button" class="secondary small" aria-label={t('users.disableFor', { name: u.username })} onClick={() => void act(u, 'disable')}>{t('users.disable')}</button>}
                    {u.status === 'invited'
                      ? <button type="button" class="secondary small" aria-label={t('users.newLinkFor', { name: u.username })} onClick={() => void act(u, 'enrollment')}>{t('users.newLink')}</button>
                      : u.signIn === 'local' && u.status === 'active'
                        ? <button type="button" class="secondary small" aria-label={t('users.resetFor', { name: u.username })} onClick={() => void act(u, 'reset-second-factor')}>{t('users.reset')}</button> : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : <p aria-busy="true">{t('common.loading')}</p>}
      <UserDialog editing={editing} onClose={() => setEditing(null)} onSaved={(l) => { setEditing(null); if (l) setLink(l); void load(); }} />
    </Page>
  );
}

function UserDialog(props: { editing: Editing; onClose: () => void; onSaved: (link?: { username: string; url: string }) => void }) {
  const t = useLang().t;
  const e = props.editing;
  const [username, setUsername] = useState('');
  const [a, setA] = useState<Assignment>({ roles: [], careUnits: '', agentId: '' });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const withStepUp = useStepUp();
  useEffect(() => {
    setError('');
    if (e?.kind === 'edit') { setUsername(e.user.username); setA({ roles: e.user.roles, careUnits: e.user.careUnits.join(', '), agentId: e.user.agentId ?? '' }); }
    else { setUsername(''); setA({ roles: [], careUnits: '', agentId: '' }); }
  }, [e]);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (a.roles.length === 0) { setError(t('users.needRole')); return; }
    setBusy(true);
    setError('');
    try {
      if (e?.kind === 'edit') {
        if (!(await withStepUp(async () => { await api('PATCH', `/api/v1/users/${e.user.id}`, { body: toBody(a) }); return true; }))) return;
        announce(t('users.saved', { name: username }));
        props.onSaved();
      } else {
        const r = await withStepUp(() => post<{ enrollUrl: string }>('/api/v1/users', { username: username.trim(), ...toBody(a) }));
        if (!r) return;
        announce(t('users.invited', { name: username }));
        props.onSaved({ username: username.trim(), url: r.enrollUrl });
      }
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={e !== null} title={e?.kind === 'edit' ? t('users.editTitle', { name: username }) : t('users.inviteTitle')} onClose={props.onClose}>
      <form onSubmit={submit}>
        {e?.kind === 'invite' ? <TextField label={t('users.username')} hint={t('users.usernameHint')} value={username} onValue={setUsername} required maxLength={64} autocomplete="off" /> : null}
        {e?.kind === 'edit' ? <p>{t('users.editNote')}</p> : null}
        <AssignmentFields value={a} onChange={setA} idPrefix="user" />
        <ErrorText>{error}</ErrorText>
        <div class="buttons">
          <button type="submit" disabled={busy}>{e?.kind === 'edit' ? t('common.save') : t('users.sendInvite')}</button>
          <button type="button" class="secondary" onClick={props.onClose}>{t('common.cancel')}</button>
        </div>
      </form>
    </Dialog>
  );
}
