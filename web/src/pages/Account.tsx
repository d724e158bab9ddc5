// One's own account: who one is, passkeys (add with step-up, remove), new recovery codes, sign out.
import { startRegistration } from '@simplewebauthn/browser';
import { useEffect, useState } from 'preact/hooks';
import { api, get, post } from '../api';
import { announce } from '../announce';
import { ErrorText, TextField, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { Secret } from '../components/Secret';
import { useStepUp } from '../components/StepUp';
import { useLang, useSession } from '../context';
import { dateTime } from '../format';
import { roleKey } from './UserForm';

interface Passkey { id: string; name: string; transports: string[]; createdAt: string; lastUsedAt: string | null }
type Options = Parameters<typeof startRegistration>[0]['optionsJSON'];

export function Account() {
  const { t, lang } = useLang();
  const { session, signOut } = useSession();
  const withStepUp = useStepUp();
  const [keys, setKeys] = useState<Passkey[] | null>(null);
  const [name, setName] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const load = () => get<{ items: Passkey[] }>('/api/v1/passkeys').then((r) => setKeys(r.items), (e) => setError(errorText(t, e)));
  useEffect(() => { void load(); }, []);

  const run = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError('');
    try { await fn(); } catch (e) { setError(errorText(t, e)); } finally { setBusy(false); }
  };
  const addPasskey = (e: Event) => {
    e.preventDefault();
    return run(async () => {
      const optionsJSON = await withStepUp(() => post<Options>('/api/v1/passkeys/registration/options'));
      if (!optionsJSON) return;
      const response = await startRegistration({ optionsJSON });
      await post('/api/v1/passkeys/registration', { response, name: name.trim() || 'passkey' });
      setName('');
      announce(t('account.passkeyAdded'));
      await load();
    });
  };
  const remove = (k: Passkey) => run(async () => {
    if (!window.confirm(t('account.confirmRemove', { name: k.name }))) return;
    const done = await withStepUp(async () => { await api('DELETE', `/api/v1/passkeys/${encodeURIComponent(k.id)}`); return true; });
    if (done) { announce(t('account.passkeyRemoved', { name: k.name })); await load(); }
  });
  const newCodes = () => run(async () => {
    const r = await withStepUp(() => post<{ recoveryCodes: string[] }>('/api/v1/session/recovery-codes'));
    if (r) { setCodes(r.recoveryCodes); announce(t('account.codesMade')); }
  });

  return (
    <Page title={t('account.title')}>
      <dl class="details card">
        <div><dt>{t('users.username')}</dt><dd>{session.username}</dd></div>
        <div><dt>{t('users.roles')}</dt><dd>{session.roles.map((r) => t(roleKey(r))).join(', ')}</dd></div>
        {session.careUnits.length ? <div><dt>{t('users.careUnits')}</dt><dd>{session.careUnits.join(', ')}</dd></div> : null}
        {session.agentId ? <div><dt>{t('users.agentId')}</dt><dd>{session.agentId}</dd></div> : null}
      </dl>
      <ErrorText>{error}</ErrorText>
      <section aria-labelledby="passkeys-heading">
        <h2 id="passkeys-heading">{t('account.passkeys')}</h2>
        <p>{t('account.passkeysIntro')}</p>
        {keys && keys.length === 0 ? <p>{t('account.noPasskeys')}</p> : null}
        {keys && keys.length > 0 ? (
          <ul class="plain">
            {keys.map((k) => (
              <li key={k.id}>
                <strong>{k.name}</strong> {t('account.passkeyMeta', { created: dateTime(lang, k.createdAt), used: k.lastUsedAt ? dateTime(lang, k.lastUsedAt) : '–' })}{' '}
                <button type="button" class="secondary small" disabled={busy} aria-label={t('account.removeFor', { name: k.name })} onClick={() => void remove(k)}>{t('account.remove')}</button>
              </li>
            ))}
          </ul>
        ) : null}
        {session.authMethod === 'sso' ? null : (
          <form class="inline-form" onSubmit={addPasskey}>
            <TextField label={t('account.passkeyName')} value={name} onValue={setName} maxLength={64} autocomplete="off" />
            <button type="submit" disabled={busy}>{t('account.addPasskey')}</button>
          </form>
        )}
      </section>
      {session.authMethod === 'sso' ? null : (
        <section aria-labelledby="codes-heading">
          <h2 id="codes-heading">{t('account.codes')}</h2>
          <p>{t('account.codesIntro')}</p>
          {codes ? <Secret label={t('enroll.recoveryCodes')} value={codes} /> : null}
          <button type="button" class="secondary" disabled={busy} onClick={() => void newCodes()}>{t('account.newCodes')}</button>
        </section>
      )}
      <section aria-labelledby="signout-heading">
        <h2 id="signout-heading">{t('account.signOut')}</h2>
        <button type="button" class="secondary" onClick={() => void signOut()}>{t('header.signOut')}</button>
      </section>
    </Page>
  );
}
