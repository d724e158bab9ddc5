// The audit timeline: every event, newest first, filtered by action (or a prefix like
// "auth."), actor, recording, outcome and time; paged with `before`. Searching the log is
// itself logged, so it searches when asked, not on every keystroke.
import { useEffect, useState } from 'preact/hooks';
import { get, query } from '../api';
import { announce } from '../announce';
import { EventTable, type AuditEvent } from '../components/EventTable';
import { ErrorText, SelectField, TextField, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useLang } from '../context';
import { localDateTime, number } from '../format';

interface Filters { action: string; actor: string; recording: string; outcome: string; from: string; to: string }
const EMPTY: Filters = { action: '', actor: '', recording: '', outcome: '', from: '', to: '' };
const ACTION_HINTS = ['auth.', 'recording.', 'recordings.', 'access.', 'audit.', 'user.', 'apikey.', 'ingest.',
  'recording.played', 'recording.viewed', 'recording.downloaded', 'access.break_glass', 'auth.login', 'recordings.listed'];

export function AuditTimeline() {
  const { t, lang } = useLang();
  const [f, setF] = useState<Filters>(EMPTY);
  const [items, setItems] = useState<AuditEvent[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k: keyof Filters) => (v: string) => setF({ ...f, [k]: v });

  const load = async (before?: number) => {
    setBusy(true);
    setError('');
    try {
      const r = await get<{ items: AuditEvent[]; next: number | null }>(`/api/v1/audit/events${query({
        limit: 100, before, action: f.action.trim(), actor: f.actor.trim().toLowerCase(), recording: f.recording.trim(), outcome: f.outcome,
        from: localDateTime(f.from), to: localDateTime(f.to),
      })}`);
      const all = before && items ? [...items, ...r.items] : r.items;
      setItems(all);
      setNext(r.next);
      announce(t('audit.found', { n: number(lang, all.length) }));
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => { void load(); }, []);

  return (
    <Page title={t('audit.title')}>
      <form class="filters card" role="search" aria-label={t('audit.filters')} onSubmit={(e) => { e.preventDefault(); void load(); }}>
        <div class="grid">
          <TextField label={t('audit.action')} hint={t('audit.actionHint')} value={f.action} onValue={set('action')} list="audit-actions" maxLength={64} autocomplete="off" />
          <datalist id="audit-actions">{ACTION_HINTS.map((a) => <option key={a} value={a} />)}</datalist>
          <TextField label={t('audit.actor')} hint={t('audit.actorHint')} value={f.actor} onValue={set('actor')} maxLength={64} autocomplete="off" spellcheck={false} />
          <TextField label={t('audit.recording')} value={f.recording} onValue={set('recording')} maxLength={32} autocomplete="off" spellcheck={false} />
          <SelectField label={t('audit.outcome')} value={f.outcome} onValue={set('outcome')}
            options={[['', t('search.any')], ['success', t('outcome.success')], ['denied', t('outcome.denied')], ['failure', t('outcome.failure')]]} />
          <TextField label={t('audit.from')} type="datetime-local" value={f.from} onValue={set('from')} />
          <TextField label={t('audit.to')} type="datetime-local" value={f.to} onValue={set('to')} />
        </div>
        <div class="buttons">
          <button type="submit" disabled={busy}>{t('audit.search')}</button>
          <button type="button" class="secondary" onClick={() => setF(EMPTY)}>{t('search.reset')}</button>
        </div>
      </form>
      <section aria-labelledby="events-heading" aria-busy={busy}>
        <h2 id="events-heading">{t('audit.events')} {items ? <span class="count">{t('audit.found', { n: number(lang, items.length) })}</span> : null}</h2>
        <ErrorText>{error}</ErrorText>
        {items && items.length === 0 ? <p>{t('audit.none')}</p> : null}
        {items && items.length > 0 ? <EventTable items={items} caption={t('audit.events')} /> : null}
        {next ? <button type="button" class="secondary" disabled={busy} onClick={() => void load(next)}>{t('audit.older')}</button> : null}
      </section>
    </Page>
  );
}
