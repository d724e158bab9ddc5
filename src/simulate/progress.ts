// The live view of a simulation. On a terminal: one status line, redrawn in place with \r.
// Elsewhere (a pipe, a CI log): a plain line every `plainEveryMs`.
import type { Progress, SimulationSummary } from './simulation.ts';
import { fmtMs } from './stats.ts';
import { createStatusLine, type ProgressStream } from '../lib/status-line.ts';


const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

export function progressLine(p: Progress): string {
  const secs = Math.floor(p.elapsedMs / 1000);
  return `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}` +
    ` active ${p.active}  completed ${p.completed}/${p.calls}  failed ${p.failed}` +
    `  ack p50 ${fmtMs(p.recent.p50)} ms p99 ${fmtMs(p.recent.p99)} ms (last ${p.recentMs / 1000} s)` +
    `  ${mb(p.bytesAcked)} MB acked` + (p.errors ? `  errors ${p.errors}` : '');
}

export function createProgressDisplay(stream: ProgressStream, opts: { plainEveryMs?: number } = {}): { update(p: Progress): void; done(): void } {
  const tty = stream.isTTY === true;
  const plainEvery = opts.plainEveryMs ?? 5000;
  let lastPlain = Number.NEGATIVE_INFINITY;
  const status = createStatusLine(stream);
  return {
    update(p) {
      const line = progressLine(p);
      if (tty) {
        status.draw(line);
      } else if (p.elapsedMs - lastPlain >= plainEvery) {
        stream.write(`${line}\n`);
        lastPlain = p.elapsedMs;
      }
    },
    done() {
      status.end();
    },
  };
}

/** The closing report of a run, as lines. */
export function summaryLines(s: SimulationSummary): string[] {
  const l = s.latency;
  const lines = [
    `calls: ${s.calls} requested, ${s.started} started, ${s.completed} completed, ${s.failed} failed${s.aborted ? ' (the run hit its deadline or was stopped)' : ''}`,
    `audio: ${s.codec}, ${s.channels === 1 ? 'mono' : 'stereo'}, 8000 Hz, ${s.content === 'speech' ? 'espeak-ng speech' : 'synthetic tones'}; ${mb(s.bytesAcked)} MB acknowledged in ${s.patches} PATCHes over ${(s.elapsedMs / 1000).toFixed(1)} s`,
    `ack latency: p50 ${fmtMs(l.p50)} ms, p95 ${fmtMs(l.p95)} ms, p99 ${fmtMs(l.p99)} ms, max ${fmtMs(l.max)} ms`,
  ];
  if (s.window) lines.push(`ack latency in [${(s.window.fromMs / 1000).toFixed(1)} s, ${(s.window.toMs / 1000).toFixed(1)} s): ${s.window.count} acks, p50 ${fmtMs(s.window.p50)} ms, p99 ${fmtMs(s.window.p99)} ms, max ${fmtMs(s.window.max)} ms`);
  const kinds = Object.entries(s.errors);
  lines.push(kinds.length ? `errors: ${kinds.map(([k, n]) => `${k} ${n}`).join(', ')}` : 'errors: none');
  if (s.firstFailure) {
    const f = s.firstFailure;
    const body = f.body ? `: ${f.body.replace(/\s+/g, ' ').trim().slice(0, 300)}` : '';
    lines.push(`first failure: ${f.phase} ${f.status ?? f.kind}${body}`);
  }
  return lines;
}
