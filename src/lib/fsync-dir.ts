// A directory's entries (a file created, renamed or removed in it) are durable only once the
// directory itself is fsync'd; a file's own fsync does not promise that.
import { open } from 'node:fs/promises';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
