// The strace helper that durability tests read: a file opened while another thread makes a
// system call shows in the trace as two lines ("<unfinished ...>", then "<... openat resumed>"),
// and its writes must still be named.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { fileEventsOf } from './helpers/strace.ts';

it('names the writes to files opened by several threads at once', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'cv-strace-files-'));
  try {
    // Fifty files written at once: libuv's threads open them side by side, so some opens are split.
    const events = fileEventsOf(`import { writeFile } from 'node:fs/promises';
      await Promise.all(Array.from({ length: 50 }, (_, i) => writeFile(process.argv[1] + '/f' + i, 'a')));`, [dir]);
    for (let i = 0; i < 50; i++) assert.ok(events.includes(`write ${dir}/f${i}`), `the write to f${i} is named`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
