// Playback: an <audio> element streaming /audio (the browser asks with HTTP Range, so seeking
// does not download the whole call), the waveform, speed, and for stereo calls the choice of
// leg through the Web Audio API: source → channel splitter → a gain per leg → speakers.
// Nothing of the audio is fetched before the person plays or seeks it: every read of the audio
// is audited as listening (`recording.played`), and opening a call's page is not listening to it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api';
import { useT } from '../context';
import { Choices, SelectField } from './Field';
import { Waveform, type Peaks } from './Waveform';

const SPEEDS = ['0.75', '1', '1.25', '1.5', '1.75', '2'];
type Leg = 'both' | 'caller' | 'agent';

interface Graph { ctx: AudioContext; gains: [GainNode, GainNode] }

function buildGraph(audio: HTMLAudioElement): Graph {
  const ctx = new AudioContext();
  const source = ctx.createMediaElementSource(audio);
  const split = ctx.createChannelSplitter(2);
  source.connect(split);
  const gains = [ctx.createGain(), ctx.createGain()] as [GainNode, GainNode];
  // Each leg is mono; connected to the stereo destination it is heard in both ears.
  gains.forEach((g, i) => { split.connect(g, i); g.connect(ctx.destination); });
  return { ctx, gains };
}

export function Player(props: { id: string; channels: number }) {
  const t = useT();
  const audioRef = useRef<HTMLAudioElement>(null);
  const graph = useRef<Graph | null>(null);
  const [peaks, setPeaks] = useState<Peaks | null>(null);
  const [position, setPosition] = useState(0);
  const [speed, setSpeed] = useState('1');
  const [leg, setLeg] = useState<Leg>('both');

  useEffect(() => {
    const ac = new AbortController();
    get<Peaks>(`/api/v1/recordings/${props.id}/waveform?points=800`, ac.signal).then(setPeaks, () => setPeaks(null));
    return () => { ac.abort(); void graph.current?.ctx.close(); graph.current = null; };
  }, [props.id]);

  useEffect(() => {
    const a = audioRef.current;
    if (!a) return;
    // Both: loading the source resets playbackRate to defaultPlaybackRate.
    a.defaultPlaybackRate = Number(speed);
    a.playbackRate = Number(speed);
  }, [speed]);

  const chooseLeg = (l: Leg) => {
    setLeg(l);
    const a = audioRef.current;
    if (!a) return;
    if (!graph.current) graph.current = buildGraph(a);
    const g = graph.current;
    void g.ctx.resume();
    g.gains[0].gain.value = l === 'agent' ? 0 : 1;
    g.gains[1].gain.value = l === 'caller' ? 0 : 1;
  };

  const onPlay = () => { void graph.current?.ctx.resume(); };
  // The element does not say why loading failed. Asking for the session does: if it has ended
  // (an idle timeout), that answer is a 401 and the app goes back to the sign-in page.
  const [failed, setFailed] = useState(false);
  const onError = () => {
    setFailed(true);
    void get('/api/v1/session').catch(() => undefined);
  };
  const labels = props.channels === 2 ? [t('player.lane1'), t('player.lane2')] : [];
  return (
    <section class="player card" aria-labelledby="player-heading">
      <h2 id="player-heading">{t('player.title')}</h2>
      {peaks ? <Waveform peaks={peaks} audio={audioRef.current} position={position} labels={labels} /> : null}
      <audio ref={audioRef} controls preload="none" src={`/api/v1/recordings/${props.id}/audio`} aria-label={t('player.audio')}
        onTimeUpdate={(e) => setPosition(e.currentTarget.currentTime)} onSeeked={(e) => setPosition(e.currentTarget.currentTime)} onPlay={onPlay} onError={onError} onLoadStart={() => setFailed(false)}
        onLoadedMetadata={(e) => { e.currentTarget.playbackRate = Number(speed); }} />
      {failed ? <p class="error" role="alert"><strong class="tag">!</strong> {t('player.failed')}</p> : null}
      <div class="player-controls">
        <SelectField label={t('player.speed')} value={speed} onValue={setSpeed} options={SPEEDS.map((s): [string, string] => [s, `${s.replace('.', t('decimal'))}×`])} />
        {props.channels === 2 ? (
          <Choices legend={t('player.leg')} type="radio" name="leg" inline selected={[leg]} onChange={(v) => chooseLeg(v[0] as Leg)}
            options={[['both', t('player.legBoth')], ['caller', t('player.legCaller')], ['agent', t('player.legAgent')]]} />
        ) : null}
      </div>
    </section>
  );
}
