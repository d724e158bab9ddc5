// API keys (administrators): ingest keys for the call platform. The secret is shown once, at
// creation; a key can be bound to source ranges and a rate, and revoked at once.
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api';
import { announce } from '../announce';
import { ErrorText, TextField, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { Secret } from '../components/Secret';
import { useStepUp } from '../components/StepUp';
import { useLang } from '../context';
import { dateTime } from '../format';

interface Key { id: string; name: string; scope: string; createdAt: string; revokedAt: string | null; lastUsedAt: string | null; allow: string[] | null; ratePerS: number }

export function Keys() {
  const { t, lang } = useLang();
  const [keys, setKeys] = useState<Key[] | null>(null);
  const [error, setError] = useState('');
  const [name, setName] = useState('');
  const [allow, setAllow] = useState('');
  const [rate, setRate] = useState('');
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const withStepUp = useStepUp();
  const load = () => get<{ items: Key[] }>('/api/v1/keys').then((r) => setKeys(r.items), (e) => setError(errorText(t, e)));
  useEffect(() => { void load(); }, []);

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const ranges = allow.split(',').map((s) => s.trim()).filter(Boolean);
      // Key management needs the second factor proven within minutes: asked for here if stale.
      const r = await withStepUp(() => post<{ id: string; token: string }>('/api/v1/keys', {
        name: name.trim(), scope: 'ingest', ...(ranges.length ? { allow: ranges } : {}), ...(rate.trim() ? { ratePerS: Number(rate) } : {}),
      }));
      if (!r) return;
      setCreated({ name: name.trim(), token: r.token });
      announce(t('keys.created', { name: name.trim() }));
      setName(''); setAllow(''); setRate('');
      await load();
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (k: Key) => {
    if (!window.confirm(t('keys.confirmRevoke', { name: k.name }))) return;
    try {
      if (!(await withStepUp(async () => { await post(`/api/v1/keys/${k.id}/revoke`); return true; }))) return;
      announce(t('keys.revoked', { name: k.name }));
      await load();
    } catch (err) {
      setError(errorText(t, err));
    }
  };

  return (
    <Page title={t('keys.title')}>
      <ErrorText>{error}</ErrorText>
      {created ? <Secret label={t('keys.tokenFor', { name: created.name })} value={created.token} /> : null}
      <form class="card" onSubmit={create} aria-labelledby="new-key">
        <h2 id="new-key">{t('keys.new')}</h2>
        <TextField label={t('keys.name')} value={name} onValue={setName} required maxLength={100} autocomplete="off" />
        <TextField label={t('keys.allow')} hint={t('keys.allowHint')} value={allow} onValue={setAllow} maxLength={2000} autocomplete="off" />
        <TextField label={t('keys.rate')} hint={t('keys.rateHint')} type="number" min={1} step={1} value={rate} onValue={setRate} />
        <button type="submit" disabled={busy}>{t('keys.create')}</button>
      </form>
      {keys && keys.length === 0 ? <p>{t('keys.none')}</p> : null}
      {keys && keys.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">{t('keys.title')}</caption>
            <thead><tr>
              <th scope="col">{t('keys.name')}</th><th scope="col">{t('keys.scope')}</th><th scope="col">{t('keys.allow')}</th><th scope="col">{t('keys.rate')}</th>
              <th scope="col">{t('users.created')}</th><th scope="col">{t('keys.lastUsed')}</th><th scope="col">{t('users.status')}</th><th scope="col">{t('users.actions')}</th>
            </tr></thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.id}>
                  <th scope="row">{k.name} <code class="id">{k.id}</code></th><td>{k.scope}</td><td>{k.allow?.join(', ') ?? t('keys.anywhere')}</td><td>{k.ratePerS}</td>
                  <td>{dateTime(lang, k.createdAt)}</td><td>{k.lastUsedAt ? dateTime(lang, k.lastUsedAt) : '–'}</td>
                  <td>{k.revokedAt ? t('keys.revokedAt', { at: dateTime(lang, k.revokedAt) }) : t('status.active')}</td>
                  <td>{k.revokedAt ? null : <button type="button" class="danger small" aria-label={t('keys.revokeFor', { name: k.name })} onClick={() => void revoke(k)}>{t('keys.revoke')}</button>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
