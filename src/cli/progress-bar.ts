// The live view of a migration. On a terminal: a bar redrawn in place with \r (rows per table,
// objects and bytes). Elsewhere (a pipe, a log): plain lines, one per table and one every few
// seconds while objects are copied.
import type { TableProgress } from '../catalog/copy.ts';
import type { BlobCopyProgress } from '../store/copy.ts';
import { createStatusLine, type ProgressStream } from '../lib/status-line.ts';
import type { MigrationProgress } from './migrate.ts';


const WIDTH = 24;
const fmt = (n: number) => n.toLocaleString('en');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function bar(done: number, total: number): string {
  const f = total === 0 ? 1 : Math.min(1, done / total);
  const full = Math.round(f * WIDTH);
  return `[${'#'.repeat(full)}${'.'.repeat(WIDTH - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`;
}

export function createMigrationDisplay(stream: ProgressStream, opts: { plainEveryMs?: number; now?: () => number } = {}): MigrationProgress & { done(): void } {
  const tty = stream.isTTY === true;
  const now = opts.now ?? Date.now;
  const every = opts.plainEveryMs ?? 5000;
  let lastPlain = Number.NEGATIVE_INFINITY;
  const { draw, end: endLine } = createStatusLine(stream);
  return {
    phase(text) {
      endLine();
      stream.write(`${text}\n`);
    },
    table(p: TableProgress) {
      const finished = p.done >= p.total;
      const line = `  ${p.table.padEnd(20)} ${bar(p.done, p.total)}  ${fmt(p.done)}/${fmt(p.total)} rows`;
      if (tty) {
        draw(line);
        if (finished) endLine();
      } else if (finished) {
        stream.write(`  ${p.table}: ${fmt(p.total)} rows copied\n`);
      }
    },
    blobs(p: BlobCopyProgress) {
      const line = `  objects ${bar(p.bytes, p.totalBytes)}  ${fmt(p.objects)}/${fmt(p.totalObjects)} objects, ${mb(p.bytes)} of ${mb(p.totalBytes)}`;
      const finished = p.objects >= p.totalObjects;
      if (tty) {
        draw(line);
        if (finished) endLine();
      } else if (finished || now() - lastPlain >= every) {
        stream.write(`${line.trimStart()}${finished ? ', every one verified' : ''}\n`);
        lastPlain = now();
      }
    },
    done: endLine,
  };
}
