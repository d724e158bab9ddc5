// Break-glass: emergency access to a recording outside one's scope. A reason is required, and
// the person is told plainly that the access is logged, raises an alert and will be reviewed.
import { useState } from 'preact/hooks';
import { post } from '../api';
import { useT } from '../context';
import { Dialog } from './Dialog';
import { ErrorText, TextArea, errorText } from './Field';

export function BreakGlassDialog(props: { id: string; open: boolean; onCancel: () => void; onGranted: (expiresAt: string) => void }) {
  const t = useT();
  const [reason, setReason] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (reason.trim().length < 10) { setError(t('breakGlass.tooShort')); return; }
    setBusy(true);
    setError('');
    try {
      const g = await post<{ id: string; expiresAt: string }>(`/api/v1/recordings/${props.id}/break-glass`, { reason: reason.trim() });
      props.onGranted(g.expiresAt);
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open={props.open} title={t('breakGlass.title')} onClose={props.onCancel} describedBy="break-glass-warning">
      <p id="break-glass-warning" class="warning"><strong>{t('breakGlass.warningLabel')}</strong> {t('breakGlass.warning')}</p>
      <form onSubmit={submit}>
        <TextArea label={t('breakGlass.reason')} hint={t('breakGlass.reasonHint')} value={reason} onValue={setReason} required maxLength={1000} rows={4} />
        <ErrorText>{error}</ErrorText>
        <div class="buttons">
          <button type="submit" class="danger" disabled={busy}>{t('breakGlass.submit')}</button>
          <button type="button" class="secondary" onClick={props.onCancel}>{t('common.cancel')}</button>
        </div>
      </form>
    </Dialog>
  );
}
