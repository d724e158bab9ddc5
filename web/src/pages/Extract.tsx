// A patient's log extract (PDL 8 kap. 5 §): every access to their calls, found by phone number
// or personnummer. Shown as a table with a print view here (window.print with print styles:
// the app's CSP allows nothing inline), and the server's own printable page as a file.
import { useState } from 'preact/hooks';
import { post, request } from '../api';
import { announce } from '../announce';
import { Choices, ErrorText, TextField, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useLang } from '../context';
import { dateTime, number } from '../format';
import { roleKey } from './UserForm';

interface Entry {
  seq: number; at: string; action: string; what: { en: string; sv: string }; recording: string | null; careUnit: string | null;
  actor: { type: string; role: string | null; id?: string | null }; outcome: string;
}
interface Answer { producedAt: string; subject: string; entries: Entry[] }

export function Extract() {
  const { t, lang } = useLang();
  const [kind, setKind] = useState<'phone' | 'personnummer'>('phone');
  const [value, setValue] = useState('');
  const [answer, setAnswer] = useState<Answer | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const body = (format: 'json' | 'html') => ({ [kind]: value.trim(), format });

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const a = await post<Answer>('/api/v1/audit/extract', body('json'));
      setAnswer(a);
      announce(t('extract.found', { n: number(lang, a.entries.length) }));
    } catch (err) {
      setAnswer(null);
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  const downloadHtml = async () => {
    try {
      const res = await request('POST', '/api/v1/audit/extract', { body: body('html') });
      const url = URL.createObjectURL(new Blob([await res.blob()], { type: 'text/html' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'log-extract.html';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30_000);
    } catch (err) {
      setError(errorText(t, err));
    }
  };

  return (
    <Page title={t('extract.title')}>
      <p class="no-print">{t('extract.intro')}</p>
      <form class="card no-print" onSubmit={submit}>
        <Choices legend={t('extract.by')} type="radio" name="extract-kind" inline selected={[kind]} onChange={(v) => { setKind(v[0] as 'phone' | 'personnummer'); setValue(''); }}
          options={[['phone', t('extract.phone')], ['personnummer', t('extract.personnummer')]]} />
        {kind === 'phone'
          ? <TextField key="phone" label={t('extract.phone')} type="tel" value={value} onValue={setValue} required maxLength={40} autocomplete="off" />
          : <TextField key="pnr" label={t('extract.personnummer')} hint={t('extract.pnrHint')} value={value} onValue={setValue} required maxLength={20} autocomplete="off" />}
        <ErrorText>{error}</ErrorText>
        <button type="submit" disabled={busy}>{t('extract.submit')}</button>
      </form>
      {answer ? (
        <section aria-labelledby="extract-result" class="print-area">
          <h2 id="extract-result">{t('extract.result')}</h2>
          <p>{t('extract.produced', { at: dateTime(lang, answer.producedAt), subject: answer.subject })}</p>
          <div class="buttons no-print">
            <button type="button" onClick={() => window.print()}>{t('extract.print')}</button>
            <button type="button" class="secondary" onClick={downloadHtml}>{t('extract.html')}</button>
          </div>
          {answer.entries.length === 0 ? <p>{t('extract.none')}</p> : (
            <div class="table-wrap">
              <table>
                <caption class="visually-hidden">{t('extract.result')}</caption>
                <thead><tr><th scope="col">{t('audit.at')}</th><th scope="col">{t('extract.who')}</th><th scope="col">{t('rec.careUnit')}</th><th scope="col">{t('extract.what')}</th><th scope="col">{t('extract.recording')}</th></tr></thead>
                <tbody>
                  {answer.entries.map((e) => (
                    <tr key={e.seq}>
                      <td>{dateTime(lang, e.at)}</td>
                      <td>{e.actor.role ? e.actor.role.split('+').map((r) => t(roleKey(r))).join(', ') : e.actor.type}{e.actor.id ? <> <code class="id">{e.actor.id}</code></> : null}</td>
                      <td>{e.careUnit ?? ''}</td><td>{e.what[lang]}</td><td><code class="id">{e.recording ?? ''}</code></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </section>
      ) : null}
    </Page>
  );
}
