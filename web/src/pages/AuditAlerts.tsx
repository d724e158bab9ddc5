// Alerts raised on unusual access (break-glass, many plays, out of hours, repeated denials).
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { ErrorText, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useLang } from '../context';
import { dateTime } from '../format';

interface Alert { id: number; at: string; rule: string; actor: { type: string; id: string | null }; summary: string; details: unknown }

export function AuditAlerts() {
  const { t, lang } = useLang();
  const [items, setItems] = useState<Alert[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => { get<{ items: Alert[] }>('/api/v1/audit/alerts').then((r) => setItems(r.items), (e) => setError(errorText(t, e))); }, []);
  return (
    <Page title={t('alerts.title')}>
      <ErrorText>{error}</ErrorText>
      {items && items.length === 0 ? <p>{t('alerts.none')}</p> : null}
      {items && items.length > 0 ? (
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">{t('alerts.title')}</caption>
            <thead><tr><th scope="col">{t('audit.at')}</th><th scope="col">{t('alerts.rule')}</th><th scope="col">{t('audit.actor')}</th><th scope="col">{t('alerts.summary')}</th></tr></thead>
            <tbody>
              {items.map((a) => (
                <tr key={a.id}>
                  <td>{dateTime(lang, a.at)}</td><td><code>{a.rule}</code></td>
                  <td>{a.actor.type} {a.actor.id ? <code class="id">{a.actor.id}</code> : null}</td><td>{a.summary}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </Page>
  );
}
