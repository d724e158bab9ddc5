// Durable files and names. A directory's entries (a file created, renamed or removed in it) are
// durable only once the directory itself is fsync'd; a file's own fsync does not promise that.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates `file` (refusing one that exists) with `text`, synced before it returns; its name needs fsyncDirSync of its directory. */
export function createFileDurableSync(file: string, text: string, mode: number): void {
  const fd = openSync(file, 'wx', mode);
  try {
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates `file` (refusing one that exists) with `data`, synced before it resolves; its name needs fsyncNames of its directory. */
export async function createFileDurable(file: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await open(file, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Makes the entries of `dir` durable, and the names of the directories that
 * `mkdir(dir, { recursive: true })` made for it (`made`, what it returned): each is held by its parent.
 */
export async function fsyncNames(dir: string, made: string | undefined): Promise<void> {
  await fsyncDir(dir);
  for (const parent of parentsOfMade(dir, made)) await fsyncDir(parent);
}

export function fsyncNamesSync(dir: string, made: string | undefined): void {
  fsyncDirSync(dir);
  for (const parent of parentsOfMade(dir, made)) fsyncDirSync(parent);
}

/**
 * The directories whose entries name what `mkdir(dir, { recursive: true })` made (`made`, the
 * first directory it created): the parent of each directory from `dir` up to `made`.
 */
function parentsOfMade(dir: string, made: string | undefined): string[] {
  const out: string[] = [];
  if (made === undefined) return out;
  for (let d = resolve(dir); d !== dirname(resolve(made)) && d !== dirname(d); d = dirname(d)) out.push(dirname(d));
  return out;
}
