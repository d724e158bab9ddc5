// The settings the server runs with, read-only (they change through configuration), labelled in
// the person's language; role descriptions are the app's own, in both languages.
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorText, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useT, type T } from '../context';
import type { Key } from '../i18n';
import { roleKey } from './UserForm';

/** A setting's label: its translation, or the key itself for a setting the app does not know yet. */
function label(t: T, k: string): string {
  return t(`settings.key.${k}` as Key);
}

function Value(props: { v: unknown; path: string }) {
  const t = useT();
  const v = props.v;
  if (v === null || v === undefined) return <>–</>;
  if (typeof v === 'boolean') return <>{t(v ? 'settings.yes' : 'settings.no')}</>;
  if (v === 'configured') return <>{t('settings.configured')}</>;
  if (typeof v !== 'object') return <>{String(v)}</>;
  if (Array.isArray(v)) return <>{v.map(String).join(', ')}</>;
  const entries = Object.entries(v as Record<string, unknown>);
  if (props.path === 'roles') {
    return (
      <dl class="nested">
        {entries.map(([role, d]) => {
          const desc = t(`roleDesc.${role}` as Key);
          return <div key={role}><dt>{t(roleKey(role))}</dt><dd>{desc === role ? String(d) : desc}</dd></div>;
        })}
      </dl>
    );
  }
  return (
    <dl class="nested">
      {entries.map(([k, x]) => <div key={k}><dt>{label(t, k)}</dt><dd><Value v={x} path={k} /></dd></div>)}
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
      {settings ? <div class="card"><Value v={settings} path="" /></div> : null}
    </Page>
  );
}
