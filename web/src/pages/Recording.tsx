// One recording: its details (caller and callee included), the player, download (with step-up),
// break-glass when it is outside one's scope, and its own access history. A synthetic call has
// details only: no audio to play, download or export.
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, request } from '../api';
import { announce } from '../announce';
import { BreakGlassDialog } from '../components/BreakGlassDialog';
import { ErrorText, errorText } from '../components/Field';
import { Page } from '../components/Page';
import { Player } from '../components/Player';
import { PrivacyActions } from '../components/PrivacyActions';
import { useStepUp } from '../components/StepUp';
import { useLang } from '../context';
import { bytes, dateTime, duration } from '../format';
import { Link, navigate } from '../router';
import { RecordingHistory } from './RecordingHistory';
import { flagKey } from './SearchFilters';
import type { RecordingSummary } from './Search';

/** What the server says this person may do with this call (break-glass opens play only). */
export type RecordingAction = 'play' | 'download' | 'export' | 'legal_hold' | 'erase' | 'history';
interface RecordingDetail extends RecordingSummary { caller: string | null; callee: string | null; legalHold: boolean; allowed: RecordingAction[] }

/** What needs the call's audio: a synthetic call (callvault seed, metadata only) has none. */
const AUDIO_ACTIONS: readonly RecordingAction[] = ['play', 'download', 'export'];

type State = { kind: 'loading' } | { kind: 'ready'; rec: RecordingDetail } | { kind: 'breakGlass' } | { kind: 'error'; message: string } | { kind: 'erased'; message: string };

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

export function Recording(props: { id: string }) {
  const { t, lang } = useLang();
  const withStepUp = useStepUp();
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [dialog, setDialog] = useState(false);
  const [grantUntil, setGrantUntil] = useState<string | null>(null);
  const [downloadError, setDownloadError] = useState('');
  const [downloading, setDownloading] = useState(false);

  const load = async () => {
    setState({ kind: 'loading' });
    try {
      setState({ kind: 'ready', rec: await get<RecordingDetail>(`/api/v1/recordings/${props.id}`) });
    } catch (e) {
      if (e instanceof ApiError && e.status === 403 && e.code === 'break_glass_available') {
        setState({ kind: 'breakGlass' });
        setDialog(true);
      } else if (e instanceof ApiError && (e.status === 404 || e.status === 400)) {
        setState({ kind: 'error', message: t('rec.notFound') });
      } else {
        setState({ kind: 'error', message: errorText(t, e) });
      }
    }
  };
  useEffect(() => { void load(); }, [props.id]);

  const granted = (expiresAt: string) => {
    setDialog(false);
    setGrantUntil(expiresAt);
    announce(t('breakGlass.granted', { until: dateTime(lang, expiresAt) }));
    void load();
  };

  const download = async () => {
    setDownloadError('');
    setDownloading(true);
    try {
      const res = await withStepUp(() => request('GET', `/api/v1/recordings/${props.id}/download`));
      if (!res) return;
      const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? `${props.id}.wav`;
      saveBlob(await res.blob(), name);
      announce(t('rec.downloaded'));
    } catch (e) {
      setDownloadError(errorText(t, e));
    } finally {
      setDownloading(false);
    }
  };

  const title = state.kind === 'ready' ? t('rec.titleAt', { at: dateTime(lang, state.rec.startedAt) }) : t('rec.title');
  // The server lists a synthetic call's audio actions as allowed too, but has no audio for them:
  // the page offers none of them (a player would only say the audio could not be loaded) and says why.
  const noAudio = state.kind === 'ready' && state.rec.flags.includes('synthetic');
  const allowed = state.kind === 'ready' ? state.rec.allowed.filter((a) => !(noAudio && AUDIO_ACTIONS.includes(a))) : [];
  return (
    <Page title={title} actions={<Link href="/" class="back">{t('rec.back')}</Link>}>
      {state.kind === 'loading' ? <p aria-busy="true">{t('common.loading')}</p> : null}
      {state.kind === 'error' ? <ErrorText>{state.message}</ErrorText> : null}
      {state.kind === 'erased' ? <p class="notice">{state.message}</p> : null}
      {state.kind === 'breakGlass' ? (
        <div class="notice">
          <p>{t('breakGlass.outside')}</p>
          <div class="buttons">
            <button type="button" class="danger" onClick={() => setDialog(true)}>{t('breakGlass.open')}</button>
            <button type="button" class="secondary" onClick={() => navigate('/')}>{t('rec.back')}</button>
          </div>
        </div>
      ) : null}
      <BreakGlassDialog id={props.id} open={dialog} onCancel={() => setDialog(false)} onGranted={granted} />
      {grantUntil ? <p class="notice warning"><strong>{t('breakGlass.warningLabel')}</strong> {t('breakGlass.granted', { until: dateTime(lang, grantUntil) })}</p> : null}
      {state.kind === 'ready' ? (
        <>
          <Details rec={state.rec} />
          {noAudio ? <p class="notice">{t('error.msg.synthetic')}</p> : null}
          {allowed.includes('play') ? <Player id={props.id} channels={state.rec.channels} /> : null}
          {allowed.includes('download') ? (
            <div class="buttons">
              <button type="button" class="secondary" disabled={downloading} onClick={download}>{t('rec.download')}</button>
              <ErrorText>{downloadError}</ErrorText>
            </div>
          ) : null}
          {allowed.some((a) => a === 'legal_hold' || a === 'erase' || a === 'export')
            ? <PrivacyActions id={props.id} legalHold={state.rec.legalHold} allowed={allowed} onChanged={load} onErased={(message) => setState({ kind: 'erased', message })} /> : null}
          {allowed.includes('history') ? <RecordingHistory id={props.id} /> : null}
        </>
      ) : null}
    </Page>
  );
}

function Details(props: { rec: RecordingDetail }) {
  const { t, lang } = useLang();
  const r = props.rec;
  const rows: Array<[string, string]> = [
    [t('rec.startedAt'), dateTime(lang, r.startedAt)],
    [t('rec.duration'), duration(r.durationMs)],
    [t('rec.direction'), t(r.direction === 'outbound' ? 'direction.outbound' : 'direction.inbound')],
    [t('rec.careUnit'), r.careUnit],
    [t('rec.agent'), r.agentId ?? '–'],
    [t('rec.caller'), r.caller ?? '–'],
    [t('rec.callee'), r.callee ?? '–'],
    [t('rec.callId'), r.callId ?? '–'],
    [t('rec.format'), `${r.codec}, ${r.sampleRate} Hz, ${r.channels === 2 ? t('rec.stereo') : t('rec.mono')}`],
    [t('rec.size'), bytes(lang, r.sizeBytes)],
    [t('rec.flags'), r.flags.length ? r.flags.map((f) => t(flagKey(f))).join(', ') : '–'],
  ];
  return (
    <dl class="details card">
      {rows.map(([k, v]) => <div key={k}><dt>{k}</dt><dd>{v}</dd></div>)}
    </dl>
  );
}
