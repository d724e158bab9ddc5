// The audit log's integrity: its size, the latest signed checkpoint, the last verification,
// and "Verify now" (every entry re-hashed, every checkpoint and witness copy checked).
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api';
import { announce } from '../announce';
import { ErrorText, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { useLang } from '../context';
import { dateTime, number } from '../format';

interface Verification { at: string; ok: boolean; entries: number; latestCheckpoint: number | null; problems: string[] }
interface Status { entries: number; latestCheckpoint: { size: number; at: string; note: string } | null; lastVerification: Verification | null }

export function AuditIntegrity() {
  const { t, lang } = useLang();
  const [status, setStatus] = useState<Status | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const load = () => get<Status>('/api/v1/audit/status').then(setStatus, (e) => setError(errorText(t, e)));
  useEffect(() => { void load(); }, []);

  const verify = async () => {
    setBusy(true);
    setError('');
    try {
      const v = await post<Verification>('/api/v1/audit/verify');
      announce(v.ok ? t('integrity.ok', { n: number(lang, v.entries) }) : t('integrity.bad', { n: number(lang, v.problems.length) }));
      await load();
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
  };

  const v = status?.lastVerification;
  return (
    <Page title={t('integrity.title')}>
      <ErrorText>{error}</ErrorText>
      {status ? (
        <dl class="details card">
          <div><dt>{t('integrity.entries')}</dt><dd>{number(lang, status.entries)}</dd></div>
          <div><dt>{t('integrity.checkpoint')}</dt><dd>{status.latestCheckpoint
            ? t('integrity.checkpointText', { n: number(lang, status.latestCheckpoint.size), at: dateTime(lang, status.latestCheckpoint.at) }) : '–'}</dd></div>
          <div><dt>{t('integrity.last')}</dt><dd>{v ? (
            <>
              <span class={`outcome ${v.ok ? 'success' : 'failure'}`}>{v.ok ? t('integrity.passed') : t('integrity.failed')}</span>{' '}
              {t('integrity.lastText', { at: dateTime(lang, v.at), n: number(lang, v.entries) })}
            </>
          ) : t('integrity.never')}</dd></div>
        </dl>
      ) : <p aria-busy="true">{t('common.loading')}</p>}
      {v && v.problems.length > 0 ? (
        <section aria-labelledby="problems"><h2 id="problems">{t('integrity.problems')}</h2><ul>{v.problems.map((p) => <li key={p}>{p}</li>)}</ul></section>
      ) : null}
      <button type="button" disabled={busy} onClick={verify}>{busy ? t('integrity.verifying') : t('integrity.verify')}</button>
      {status?.latestCheckpoint ? (
        <details class="note"><summary>{t('integrity.note')}</summary><pre>{status.latestCheckpoint.note}</pre></details>
      ) : null}
    </Page>
  );
}
