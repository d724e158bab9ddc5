// What a privacy officer does with one call: a legal hold, an export for the patient (an age
// file only the patient's own key opens), and erasure. Export, erasure and releasing a hold
// need the second factor proven within minutes (the step-up dialog asks when needed).
import { useState } from 'preact/hooks';
import { post, request } from '../api';
import { announce } from '../announce';
import { useLang } from '../context';
import type { Key } from '../i18n';
import { Dialog } from './Dialog';
import { ErrorText, SelectField, TextField, errorText } from './Field';
import { useStepUp } from './StepUp';
import type { RecordingAction } from '../pages/Recording';

const BASES = ['data_subject_request', 'retention', 'unlawful_recording', 'other'] as const;

function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

export function PrivacyActions(props: { id: string; legalHold: boolean; allowed: RecordingAction[]; onChanged: () => void; onErased: (message: string) => void }) {
  const { t } = useLang();
  const can = (a: RecordingAction) => props.allowed.includes(a);
  const withStepUp = useStepUp();
  const [recipient, setRecipient] = useState('');
  const [basis, setBasis] = useState<string>('data_subject_request');
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const run = async (fn: () => Promise<void>) => {
    setError('');
    setBusy(true);
    try {
      await fn();
    } catch (e) {
      setError(errorText(t, e));
    } finally {
      setBusy(false);
    }
  };

  const hold = (on: boolean) => run(async () => {
    await withStepUp(() => post(`/api/v1/recordings/${props.id}/legal-hold`, { hold: on }));
    props.onChanged();
  });
  const exportFile = (e: Event) => {
    e.preventDefault();
    return run(async () => {
      const res = await withStepUp(() => request('POST', `/api/v1/recordings/${props.id}/export`, { body: { recipient: recipient.trim() } }));
      if (!res) return;
      saveBlob(await res.blob(), `${props.id}.age`);
      announce(t('privacy.exported'));
    });
  };
  const erase = () => run(async () => {
    const done = await withStepUp(() => post<{ audioDeleted: boolean }>(`/api/v1/recordings/${props.id}/erase`, { basis }));
    if (done === undefined) return;
    setConfirming(false);
    // The key is gone either way; the audio itself may wait for the storage to answer. The page
    // says so where the call was (seen), and the live region speaks it (heard).
    const message = t(done.audioDeleted === false ? 'privacy.erasedPending' : 'privacy.erased');
    props.onErased(message);
    announce(message);
  });

  return (
    <section class="card" aria-labelledby="privacy-title">
      <h2 id="privacy-title">{t('privacy.title')}</h2>
      {can('legal_hold') ? (
        <div class="buttons">
          <p>{t(props.legalHold ? 'privacy.held' : 'privacy.notHeld')}</p>
          <button type="button" class="secondary" disabled={busy} onClick={() => hold(!props.legalHold)}>{t(props.legalHold ? 'privacy.holdOff' : 'privacy.holdOn')}</button>
        </div>
      ) : null}
      {can('export') ? (
        <form onSubmit={exportFile}>
          <h3>{t('privacy.export')}</h3>
          <TextField label={t('privacy.recipient')} hint={t('privacy.recipientHint')} value={recipient} onValue={setRecipient} required pattern="age1[0-9a-z]{50,70}" autoCapitalize="none" spellcheck={false} />
          <button type="submit" class="secondary" disabled={busy}>{t('privacy.exportButton')}</button>
        </form>
      ) : null}
      {can('erase') && !props.legalHold ? (
        <div class="buttons">
          <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>{t('privacy.erase')}</button>
        </div>
      ) : null}
      <ErrorText>{error}</ErrorText>
      <Dialog open={confirming} title={t('privacy.eraseTitle')} onClose={() => setConfirming(false)}>
        <p>{t('privacy.eraseWarning')}</p>
        <SelectField label={t('privacy.basis')} value={basis} onValue={setBasis} options={BASES.map((b) => [b, t(`privacy.basis.${b}` as Key)])} />
        <ErrorText>{error}</ErrorText>
        <div class="buttons">
          <button type="button" class="danger" disabled={busy} onClick={erase}>{t('privacy.eraseConfirm')}</button>
          <button type="button" class="secondary" onClick={() => setConfirming(false)}>{t('common.cancel')}</button>
        </div>
      </Dialog>
    </section>
  );
}
