// Signing in: password and authenticator code (or a recovery code), a passkey, or single
// sign-on when the server offers it. Anonymous visitors see this page and nothing else.
import { startAuthentication } from '@simplewebauthn/browser';
import { useEffect, useState } from 'preact/hooks';
import { get, post, type Session } from '../api';
import { Choices, ErrorText, TextField, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useT } from '../context';

type Options = Parameters<typeof startAuthentication>[0]['optionsJSON'];

export function SignIn(props: { onSignedIn: (s: Session) => void }) {
  const t = useT();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [factor, setFactor] = useState<'totp' | 'recovery'>('totp');
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [sso, setSso] = useState<string | null>(null);

  useEffect(() => {
    get<{ enabled: boolean; start: string }>('/api/v1/sso').then((r) => setSso(r.enabled ? r.start : null), () => setSso(null));
  }, []);

  const signIn = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const second = factor === 'totp' ? { totpCode: code.trim() } : { recoveryCode: code.trim() };
      props.onSignedIn(await post<Session>('/api/v1/session', { username: username.trim(), password, ...second }, { credentialCheck: true }));
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };

  const withPasskey = async () => {
    setBusy(true);
    setError('');
    try {
      const optionsJSON = await post<Options>('/api/v1/session/passkey/options');
      const response = await startAuthentication({ optionsJSON });
      props.onSignedIn(await post<Session>('/api/v1/session/passkey', { response }, { credentialCheck: true }));
    } catch (err) {
      setError(errorText(t, err));
      setBusy(false);
    }
  };

  const returnTo = location.pathname + location.search;
  return (
    <Page title={t('signIn.title')}>
      <p>{t('signIn.intro')}</p>
      <div class="signin">
        <form class="card" onSubmit={signIn} aria-describedby="signin-error">
          <TextField label={t('signIn.username')} value={username} onValue={setUsername} autocomplete="username" required maxLength={64} autoCapitalize="none" spellcheck={false} />
          <TextField label={t('signIn.password')} type="password" value={password} onValue={setPassword} autocomplete="current-password" required maxLength={1024} />
          <Choices legend={t('signIn.factor')} type="radio" name="factor" inline selected={[factor]} onChange={(v) => { setFactor(v[0] as 'totp' | 'recovery'); setCode(''); }}
            options={[['totp', t('signIn.factorTotp')], ['recovery', t('signIn.factorRecovery')]]} />
          {factor === 'totp'
            ? <TextField key="totp" label={t('signIn.code')} value={code} onValue={setCode} inputMode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required maxLength={6} hint={t('signIn.codeHint')} />
            : <TextField key="recovery" label={t('signIn.recoveryCode')} value={code} onValue={setCode} autocomplete="off" required maxLength={40} />}
          <div id="signin-error"><ErrorText>{error}</ErrorText></div>
          <button type="submit" disabled={busy}>{t('signIn.submit')}</button>
        </form>
        <section class="card other-ways" aria-labelledby="other-ways">
          <h2 id="other-ways">{t('signIn.otherWays')}</h2>
          <button type="button" class="secondary" disabled={busy} onClick={withPasskey}>{t('signIn.passkey')}</button>
          {sso ? <a class="button secondary" href={`${sso}?returnTo=${encodeURIComponent(returnTo)}`}>{t('signIn.sso')}</a> : null}
        </section>
      </div>
    </Page>
  );
}
