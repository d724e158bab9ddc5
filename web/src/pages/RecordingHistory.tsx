// A recording's own access history (who listed, viewed, played, downloaded it, and when).
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api';
import { EventTable, type AuditEvent } from '../components/EventTable';
import { ErrorText, errorText } from '../components/Field';
import { useT } from '../context';

export function RecordingHistory(props: { id: string }) {
  const t = useT();
  const [items, setItems] = useState<AuditEvent[] | null>(null);
  const [error, setError] = useState('');
  const load = () => {
    setError('');
    get<{ items: AuditEvent[] }>(`/api/v1/recordings/${props.id}/history`).then((r) => setItems(r.items), (e) => setError(errorText(t, e)));
  };
  useEffect(load, [props.id]);
  return (
    <section class="history" aria-labelledby="history-heading">
      <h2 id="history-heading">{t('history.title')}</h2>
      <button type="button" class="secondary" onClick={load}>{t('common.refresh')}</button>
      <ErrorText>{error}</ErrorText>
      {items && items.length === 0 ? <p>{t('history.none')}</p> : null}
      {items && items.length > 0 ? <EventTable items={items} caption={t('history.title')} /> : null}
    </section>
  );
}
