// The recording's waveform on a <canvas>: peaks per channel (two lanes for a stereo call), the
// played part darker, a playhead. A click seeks there; as a slider it also takes the arrow
// keys (5 s), Page Up/Down (30 s), Home and End.
import { useEffect, useRef } from 'preact/hooks';
import { useT } from '../context';
import { duration } from '../format';

export interface Peaks { channels: number; durationMs: number; peaks: number[][] }

const PLAYED = '#0b4f7c';
const UNPLAYED = '#7d9bb3';

function draw(canvas: HTMLCanvasElement, peaks: Peaks, fraction: number): void {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const g = canvas.getContext('2d');
  if (!g) return;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const lanes = Math.max(1, peaks.peaks.length);
  const laneH = h / lanes;
  const playedX = fraction * w;
  peaks.peaks.forEach((channel, lane) => {
    const mid = laneH * lane + laneH / 2;
    const n = channel.length;
    const barW = w / Math.max(1, n);
    for (let i = 0; i < n; i++) {
      const x = i * barW;
      const amp = Math.max(0.02, Math.min(1, channel[i] ?? 0)) * (laneH / 2 - 2);
      g.fillStyle = x < playedX ? PLAYED : UNPLAYED;
      g.fillRect(x, mid - amp, Math.max(1, barW - 0.5), amp * 2);
    }
    if (lane > 0) {
      g.fillStyle = '#c5d0da';
      g.fillRect(0, laneH * lane, w, 1);
    }
  });
  g.fillStyle = '#a4161a';
  g.fillRect(Math.min(w - 2, playedX), 0, 2, h);
}

export function Waveform(props: { peaks: Peaks; audio: HTMLAudioElement | null; position: number; labels: string[] }) {
  const t = useT();
  const ref = useRef<HTMLCanvasElement>(null);
  const total = props.audio && Number.isFinite(props.audio.duration) ? props.audio.duration : props.peaks.durationMs / 1000;
  const fraction = total > 0 ? Math.min(1, props.position / total) : 0;

  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    draw(c, props.peaks, fraction);
    const ro = new ResizeObserver(() => draw(c, props.peaks, fraction));
    ro.observe(c);
    return () => ro.disconnect();
  }, [props.peaks, fraction]);

  const seekTo = (seconds: number) => {
    const a = props.audio;
    if (!a) return;
    a.currentTime = Math.max(0, Math.min(total, seconds));
  };
  const onClick = (e: MouseEvent) => {
    const c = ref.current!;
    const box = c.getBoundingClientRect();
    seekTo(((e.clientX - box.left) / box.width) * total);
  };
  const onKey = (e: KeyboardEvent) => {
    const step: Record<string, number> = { ArrowRight: 5, ArrowUp: 5, ArrowLeft: -5, ArrowDown: -5, PageUp: 30, PageDown: -30 };
    // From the element's own time, which a seek sets at once: `position` follows only when the
    // seek has landed, so a key repeated faster than seeks land would step from the same place.
    if (e.key in step) seekTo((props.audio?.currentTime ?? props.position) + step[e.key]!);
    else if (e.key === 'Home') seekTo(0);
    else if (e.key === 'End') seekTo(total);
    else return;
    e.preventDefault();
  };
  return (
    <div class="waveform">
      <canvas ref={ref} tabIndex={0} role="slider" aria-label={t('player.waveform')} aria-valuemin={0} aria-valuemax={Math.round(total)}
        aria-valuenow={Math.round(props.position)} aria-valuetext={`${duration(props.position * 1000)} / ${duration(total * 1000)}`}
        onClick={onClick} onKeyDown={onKey} />
      {props.labels.length > 1 ? <p class="lanes hint">{props.labels.join(' · ')}</p> : null}
    </div>
  );
}
