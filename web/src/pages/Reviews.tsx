// The break-glass review queue: who took emergency access to which recording and why; a
// supervisor of the unit or an auditor (never the person themselves) closes each with a verdict.
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api';
import { announce } from '../announce';
import { Choices, ErrorText, SelectField, TextArea, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useLang, useSession } from '../context';
import type { Key } from '../i18n';
import { dateTime } from '../format';
import { Link } from '../router';

interface Item {
  id: string; userId: string; username: string; recordingId: string; careUnit: string; reason: string; createdAt: string; expiresAt: string;
  state: string; reviewedBy: string | null; reviewedAt: string | null; verdict: string | null; note: string | null;
}

export function Reviews() {
  const { t, lang } = useLang();
  const canOpen = useSession().can('recordings:view');
  const [state, setState] = useState('open');
  const [items, setItems] = useState<Item[] | null>(null);
  const [error, setError] = useState('');
  const load = () => { setError(''); get<{ items: Item[] }>(`/api/v1/break-glass?state=${state}`).then((r) => setItems(r.items), (e) => setError(errorText(t, e))); };
  useEffect(load, [state]);
  return (
    <Page title={t('reviews.title')}>
      <p>{t('reviews.intro')}</p>
      <SelectField label={t('reviews.show')} value={state} onValue={setState} options={[['open', t('reviews.open')], ['closed', t('reviews.closed')], ['all', t('reviews.all')]]} />
      <ErrorText>{error}</ErrorText>
      {items && items.length === 0 ? <p>{t('reviews.none')}</p> : null}
      <ul class="cards">
        {(items ?? []).map((i) => (
          <li key={i.id} class="card">
            <h2>{t('reviews.itemTitle', { user: i.username, at: dateTime(lang, i.createdAt) })}</h2>
            <dl class="details">
              <div><dt>{t('reviews.recording')}</dt><dd>{canOpen ? <Link href={`/recordings/${i.recordingId}`}><code class="id">{i.recordingId}</code></Link> : <code class="id">{i.recordingId}</code>}</dd></div>
              <div><dt>{t('rec.careUnit')}</dt><dd>{i.careUnit}</dd></div>
              <div><dt>{t('reviews.reason')}</dt><dd class="reason">{i.reason}</dd></div>
              <div><dt>{t('reviews.expires')}</dt><dd>{dateTime(lang, i.expiresAt)}</dd></div>
              {i.state !== 'open' ? (
                <div><dt>{t('reviews.verdict')}</dt><dd>{i.verdict ? t(`verdict.${i.verdict}` as Key) : '–'}, {i.reviewedBy} {dateTime(lang, i.reviewedAt)} {i.note ? `– ${i.note}` : ''}</dd></div>
              ) : null}
            </dl>
            {i.state === 'open' ? <ReviewForm item={i} onDone={load} /> : null}
          </li>
        ))}
      </ul>
    </Page>
  );
}

function ReviewForm(props: { item: Item; onDone: () => void }) {
  const { t } = useLang();
  const [verdict, setVerdict] = useState('');
  const [note, setNote] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!verdict) { setError(t('reviews.chooseVerdict')); return; }
    setBusy(true);
    try {
      await post(`/api/v1/break-glass/${props.item.id}/review`, { verdict, note: note.trim() });
      announce(t('reviews.closedOne'));
      props.onDone();
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} class="review">
      <Choices legend={t('reviews.verdict')} type="radio" name={`verdict-${props.item.id}`} inline selected={[verdict]} onChange={(v) => setVerdict(v[0] ?? '')}
        options={[['justified', t('verdict.justified')], ['unjustified', t('verdict.unjustified')]]} />
      <TextArea label={t('reviews.note')} value={note} onValue={setNote} maxLength={2000} rows={2} />
      <ErrorText>{error}</ErrorText>
      <button type="submit" disabled={busy}>{t('reviews.submit')}</button>
    </form>
  );
}
