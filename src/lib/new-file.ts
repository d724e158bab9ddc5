// Files the CLI writes for people (an export, a log extract): made new, never over another
// file; written whole or not at all. A write may take fewer bytes than it was given (a full disk,
// a file size limit), so every byte is accounted for.
import { open, type FileHandle } from 'node:fs/promises';

export class NewFileError extends Error {}

const WHY: Readonly<Record<string, string>> = {
  EEXIST: 'it exists already (callvault never writes over a file)',
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'its directory does not exist',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
};

/** Opens `file` for writing, new and readable by its owner alone, or says why it cannot. */
export async function openNewFile(file: string): Promise<FileHandle> {
  try {
    return await open(file, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw new NewFileError(`cannot write ${file}: ${WHY[code] ?? (e as Error).message}`);
  }
}

/** Writes all of `bytes` at the handle's position; throws if the file takes no more. */
export async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
    if (bytesWritten === 0) throw new NewFileError('the file took no more bytes (is the disk full?)');
    at += bytesWritten;
  }
}

/** What a failed write says to a person: the system's code (ENOSPC, EFBIG...) or its message. */
export const writeFailure = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;
