// The load-generator process of bench:live (started by bench/live.ts, in its own process so
// that it does not share an event loop with the server under test).
//
//   node bench/live-generator.ts --config CONFIG.json --out SUMMARY.json
//
// Prints "WINDOW START" and "WINDOW END" on stdout when the measurement window opens and closes
// (the orchestrator samples the server's CPU then), progress lines on stderr, and writes the
// summary, with what it measured of itself and the sha256 of each call's audio, to --out.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createAudioSource } from '../src/simulate/audio.ts';
import { progressLine } from '../src/simulate/progress.ts';
import { runSimulation, type SimulationSummary } from '../src/simulate/simulation.ts';
import type { ConnectionMode } from '../src/simulate/tus-client.ts';

export interface GeneratorConfig {
  url: string;
  key: string;
  calls: number;
  durationS: number;
  rampMs: number;
  measure: { fromMs: number; toMs: number };
  deadlineMs: number;
  checksum: boolean;
  connections: ConnectionMode;
  maxSockets?: number;
  speech: 'auto' | 'off';
  /** Compute each call's expected sha256 after the run (for verification). */
  digests: boolean;
}

export interface GeneratorReport {
  summary: Omit<SimulationSummary, 'recordings'>;
  recordings: Array<{ id: string | null; completed: boolean; totalBytes: number; ackedBytes: number; sha256?: string }>;
  /** The generator's own load in the window: CPU share of one core, event-loop delay p99. */
  self: { cpuPercent: number; loopDelayP99Ms: number; loopDelayMaxMs: number; rssMb: number };
  windowWallClock: { start: number; end: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' }, out: { type: 'string' } } });
  if (!values.config || !values.out) throw new Error('usage: node bench/live-generator.ts --config FILE --out FILE');
  const c = JSON.parse(readFileSync(values.config, 'utf8')) as GeneratorConfig;
  const source = await createAudioSource({ codec: 'pcmu', channels: 1, speech: c.speech });

  const RESOLUTION_MS = 2;
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const self = { cpuPercent: Number.NaN, loopDelayP99Ms: Number.NaN, loopDelayMaxMs: Number.NaN, rssMb: 0 };
  const wall = { start: 0, end: 0 };
  let cpuAtStart = process.cpuUsage();
  let tStart = 0;
  const opened = setTimeout(() => {
    wall.start = Date.now();
    tStart = performance.now();
    cpuAtStart = process.cpuUsage();
    delay.enable();
    process.stdout.write('WINDOW START\n');
  }, c.measure.fromMs);
  const closed = setTimeout(() => {
    wall.end = Date.now();
    const cpu = process.cpuUsage(cpuAtStart);
    delay.disable();
    self.cpuPercent = ((cpu.user + cpu.system) / 1000 / (performance.now() - tStart)) * 100;
    // The histogram holds whole timer intervals: the delay is what exceeds the resolution.
    self.loopDelayP99Ms = Math.max(0, delay.percentile(99) / 1e6 - RESOLUTION_MS);
    self.loopDelayMaxMs = Math.max(0, delay.max / 1e6 - RESOLUTION_MS);
    self.rssMb = process.memoryUsage().rss / 1e6;
    process.stdout.write('WINDOW END\n');
  }, c.measure.toMs);

  let lastLine = 0;
  const summary = await runSimulation({
    url: c.url, key: c.key, calls: c.calls, concurrency: c.calls, durationS: c.durationS, rampMs: c.rampMs,
    measure: c.measure, deadlineMs: c.deadlineMs, checksum: c.checksum, connections: c.connections,
    maxSockets: c.maxSockets, source, requestTimeoutMs: 10_000,
    progressIntervalMs: 1000,
    onProgress: (p) => {
      if (p.elapsedMs - lastLine >= 5000) {
        lastLine = p.elapsedMs;
        process.stderr.write(`${progressLine(p)}\n`);
      }
    },
  });
  clearTimeout(opened);
  clearTimeout(closed);

  const recordings = summary.recordings.map((r) => ({
    id: r.id, completed: r.completed, totalBytes: r.totalBytes, ackedBytes: r.ackedBytes,
    sha256: c.digests && r.completed ? createHash('sha256').update(source.read(r.sourcePosition, r.totalBytes)).digest('hex') : undefined,
  }));
  const { recordings: _dropped, ...rest } = summary;
  const report: GeneratorReport = { summary: rest, recordings, self, windowWallClock: wall };
  writeFileSync(values.out, JSON.stringify(report));
}

await main();
