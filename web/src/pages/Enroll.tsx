// Enrollment from a one-time link (/enroll#token=...): add the shown secret to an
// authenticator app, choose a password, confirm with a first code, keep the recovery codes.
import { useEffect, useState } from 'preact/hooks';
import { post } from '../api';
import { ErrorText, TextField, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { Secret } from '../components/Secret';
import { useT } from '../context';
import { Link } from '../router';

interface Started { username: string; totpSecret: string; otpauthUri: string }

// Read once: the fragment is then taken out of the address bar and history.
const tokenAtLoad = new URLSearchParams(location.hash.slice(1)).get('token');

export function Enroll() {
  const t = useT();
  const [token] = useState(tokenAtLoad);
  const [started, setStarted] = useState<Started | null>(null);
  const [failed, setFailed] = useState('');
  const [password, setPassword] = useState('');
  const [again, setAgain] = useState('');
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [codes, setCodes] = useState<string[] | null>(null);

  useEffect(() => {
    if (location.hash) history.replaceState(null, '', '/enroll');
    if (!token) { setFailed(t('enroll.noToken')); return; }
    post<Started>('/api/v1/enrollment/start', { token }).then(setStarted, (e) => setFailed(errorText(t, e)));
  }, []);

  const complete = async (e: Event) => {
    e.preventDefault();
    if (password !== again) { setError(t('enroll.mismatch')); return; }
    setBusy(true);
    setError('');
    try {
      const r = await post<{ recoveryCodes: string[] }>('/api/v1/enrollment/complete', { token, password, totpCode: code.trim() });
      setCodes(r.recoveryCodes);
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };

  if (codes) {
    return (
      <Page title={t('enroll.doneTitle')}>
        <p>{t('enroll.doneText')}</p>
        <Secret label={t('enroll.recoveryCodes')} value={codes} />
        <p><Link href="/" class="button">{t('enroll.toSignIn')}</Link></p>
      </Page>
    );
  }
  return (
    <Page title={started ? t('enroll.titleFor', { name: started.username }) : t('enroll.title')}>
      {failed ? <ErrorText>{failed}</ErrorText> : null}
      {started ? (
        <>
          <ol class="steps">
            <li>
              <p>{t('enroll.step1')}</p>
              <p class="secret" aria-label={t('enroll.secretLabel')}>{started.totpSecret.replace(/(.{4})/g, '$1 ').trim()}</p>
              <p><a href={started.otpauthUri}>{t('enroll.openApp')}</a></p>
            </li>
            <li><p>{t('enroll.step2')}</p></li>
          </ol>
          <form class="card" onSubmit={complete}>
            <TextField label={t('enroll.password')} hint={t('enroll.passwordHint')} type="password" value={password} onValue={setPassword} autocomplete="new-password" required minLength={12} maxLength={1024} />
            <TextField label={t('enroll.passwordAgain')} type="password" value={again} onValue={setAgain} autocomplete="new-password" required minLength={12} maxLength={1024} />
            <TextField label={t('enroll.code')} value={code} onValue={setCode} inputMode="numeric" pattern="[0-9]{6}" autocomplete="one-time-code" required maxLength={6} />
            <ErrorText>{error}</ErrorText>
            <button type="submit" disabled={busy}>{t('enroll.submit')}</button>
          </form>
        </>
      ) : null}
    </Page>
  );
}
