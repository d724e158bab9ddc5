// The settings the server runs with, read-only (they change through configuration).
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorText, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useT } from '../context';

function Value(props: { v: unknown }) {
  const v = props.v;
  if (v === null || v === undefined) return <>–</>;
  if (typeof v !== 'object') return <>{String(v)}</>;
  if (Array.isArray(v)) return <>{v.map(String).join(', ')}</>;
  return (
    <dl class="nested">
      {Object.entries(v as Record<string, unknown>).map(([k, x]) => <div key={k}><dt>{k}</dt><dd><Value v={x} /></dd></div>)}
    </dl>
  );
}

export function Settings() {
  const t = useT();
  const [settings, setSettings] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState('');
  useEffect(() => { get<Record<string, unknown>>('/api/v1/settings').then(setSettings, (e) => setError(errorText(t, e))); }, []);
  return (
    <Page title={t('settings.title')}>
      <p>{t('settings.intro')}</p>
      <ErrorText>{error}</ErrorText>
      {settings ? <div class="card"><Value v={settings} /></div> : null}
    </Page>
  );
}
