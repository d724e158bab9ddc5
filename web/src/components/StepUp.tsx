// Step-up: download, export, passkey changes and new recovery codes need the second factor
// proven within 5 minutes. withStepUp(fn) runs fn; if the server answers 403 step_up_required,
// it asks for the authenticator code (or a recovery code, or a passkey) and runs fn again.
import { startAuthentication } from '@simplewebauthn/browser';
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useContext, useRef, useState } from 'preact/hooks';
import { ApiError, post } from '../api';
import { useT } from '../context';
import { Dialog } from './Dialog';
import { ErrorText, TextField, errorText } from './Field';

type WithStepUp = <R>(fn: () => Promise<R>) => Promise<R | undefined>;

const StepUpContext = createContext<WithStepUp>((fn) => fn());

export const useStepUp = () => useContext(StepUpContext);

export function StepUpProvider(props: { children: ComponentChildren; authMethod: string; onProven: () => void }) {
  const t = useT();
  const [open, setOpen] = useState(false);
  const [code, setCode] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const pending = useRef<((ok: boolean) => void) | null>(null);

  const ask = () => new Promise<boolean>((resolve) => {
    pending.current = resolve;
    setCode('');
    setError('');
    setOpen(true);
  });
  const finish = (ok: boolean) => {
    setOpen(false);
    const r = pending.current;
    pending.current = null;
    r?.(ok);
    if (ok) props.onProven();
  };

  const withStepUp: WithStepUp = async (fn) => {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 403 && e.code === 'step_up_required')) throw e;
      if (!(await ask())) return undefined;
      return fn();
    }
  };

  const submitCode = async (e: Event) => {
    e.preventDefault();
    const c = code.trim();
    setBusy(true);
    try {
      await post('/api/v1/session/step-up', /^\d{6}$/.test(c) ? { totpCode: c } : { recoveryCode: c }, { credentialCheck: true });
      finish(true);
    } catch (err) {
      setError(errorText(t, err));
    } finally {
      setBusy(false);
    }
  };
  const usePasskey = async () => {
    setBusy(true);
    setError('');
    try {
      const optionsJSON = await post<Parameters<typeof startAuthentication>[0]['optionsJSON']>('/api/v1/session/step-up/passkey/options');
      const response = await startAuthentication({ optionsJSON });
      await post('/api/v1/session/step-up/passkey', { response }, { credentialCheck: true });
      finish(true);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 409 ? t('stepUp.noPasskey') : errorText(t, err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <StepUpContext.Provider value={withStepUp}>
      {props.children}
      <Dialog open={open} title={t('stepUp.title')} onClose={() => finish(false)}>
        <p>{t('stepUp.why')}</p>
        {props.authMethod === 'sso' ? (
          <p><a class="button" href={`/api/v1/sso/step-up?returnTo=${encodeURIComponent(location.pathname)}`}>{t('stepUp.sso')}</a></p>
        ) : (
          <form onSubmit={submitCode}>
            <TextField label={t('stepUp.code')} hint={t('stepUp.codeHint')} value={code} onValue={setCode} autocomplete="one-time-code" required maxLength={40} />
            <ErrorText>{error}</ErrorText>
            <div class="buttons">
              <button type="submit" disabled={busy}>{t('stepUp.confirm')}</button>
              <button type="button" class="secondary" disabled={busy} onClick={usePasskey}>{t('stepUp.passkey')}</button>
              <button type="button" class="secondary" onClick={() => finish(false)}>{t('common.cancel')}</button>
            </div>
          </form>
        )}
      </Dialog>
    </StepUpContext.Provider>
  );
}
