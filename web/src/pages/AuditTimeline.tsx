// The audit timeline: every event, newest first, filtered by action (or a prefix like
// "auth."), actor, recording, outcome and time; paged with `before`. Searching the log is
// itself logged, so it searches when asked, not on every keystroke.
import { useEffect, useRef, useState } from 'preact/hooks';
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
  // The filters the events shown were found with: older pages are more of the same list, whatever
  // the form says since (a change is searched only when asked).
  const [shown, setShown] = useState<Filters>(EMPTY);
  const [items, setItems] = useState<AuditEvent[] | null>(null);
  const [next, setNext] = useState<number | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const olderButton = useRef<HTMLButtonElement>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const focusAfterPaging = useRef(false);
  const set = (k: keyof Filters) => (v: string) => setF({ ...f, [k]: v });

  const load = async (filters: Filters, before?: number) => {
    setBusy(true);
    setError('');
    try {
      const r = await get<{ items: AuditEvent[]; next: number | null }>(`/api/v1/audit/events${query({
        limit: 100, before, action: filters.action.trim(), actor: filters.actor.trim().toLowerCase(), recording: filters.recording.trim(), outcome: filters.outcome,
        from: localDateTime(filters.from), to: localDateTime(filters.to),
      })}`);
      const all = before && items ? [...items, ...r.items] : r.items;
      setItems(all);
      setNext(r.next);
      setShown(filters);
      announce(t('audit.found', { n: number(lang, all.length) }));
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => { void load(EMPTY); }, []);
  // Who asked for older events stays on the button; when there are no more, the button goes and
  // focus goes to the heading that counts the events shown: not back to the top of the page.
  useEffect(() => {
    if (!focusAfterPaging.current || busy) return;
    focusAfterPaging.current = false;
    (next ? olderButton.current : heading.current)?.focus();
  }, [busy, next]);

  // While busy the buttons say so (aria-disabled) but stay focusable: a disabled button drops the
  // keyboard's focus to <body>. A press meanwhile does nothing.
  const search = (e: Event) => {
    e.preventDefault();
    if (!busy) void load(f);
  };
  const older = () => {
    if (busy || !next) return;
    focusAfterPaging.current = true;
    void load(shown, next);
  };

  return (
    <Page title={t('audit.title')}>
      <form class="filters card" role="search" aria-label={t('audit.filters')} onSubmit={search}>
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
          <button type="submit" aria-disabled={busy ? 'true' : undefined}>{t('audit.search')}</button>
          <button type="button" class="secondary" onClick={() => setF(EMPTY)}>{t('search.reset')}</button>
        </div>
      </form>
      <section aria-labelledby="events-heading" aria-busy={busy}>
        <h2 id="events-heading" ref={heading} tabIndex={-1}>{t('audit.events')} {items ? <span class="count">{t('audit.found', { n: number(lang, items.length) })}</span> : null}</h2>
        <ErrorText>{error}</ErrorText>
        {items && items.length === 0 ? <p>{t('audit.none')}</p> : null}
        {items && items.length > 0 ? <EventTable items={items} caption={t('audit.events')} /> : null}
        {next ? <button ref={olderButton} type="button" class="secondary" aria-disabled={busy ? 'true' : undefined} onClick={older}>{t('audit.older')}</button> : null}
      </section>
    </Page>
  );
}
