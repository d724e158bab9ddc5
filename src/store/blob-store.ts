// The blob store holds sealed payloads (ciphertext only) under random names.
// One small interface, one contract suite (contract.ts) that every adapter must pass.

export interface BlobWriter {
  /** The object's name once committed: 128 random bits, 32 hex chars. */
  readonly key: string;
  /** Bytes written so far. */
  readonly size: number;
  /**
   * Appends ciphertext (one buffer or several, in order). Resolves when the bytes are handed
   * to the store (not yet durable). A call's place in the object is fixed when it is made,
   * so a caller may start the next write before the previous one resolves.
   */
  write(data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** Makes everything written so far durable without publishing the object. */
  flush(): Promise<void>;
  /** Durably publishes the object under `key`. Before commit, readers cannot see it. */
  commit(): Promise<void>;
  /** Drops the temporary data; the key never becomes visible. Safe to call more than once. */
  abort(): Promise<void>;
}

export interface BlobStore {
  /**
   * Starts a new object under a fresh random key or, when copying an object from another
   * store (migration), under that object's `key`: an unfinished temporary of the same key is
   * replaced, and committing replaces a committed object of that key.
   */
  create(key?: string): Promise<BlobWriter>;
  /**
   * Reopens an object that was being written when the process stopped (never committed),
   * cut to `size` bytes (what is known durable), to continue or commit it.
   */
  reopen(key: string, size: number): Promise<BlobWriter>;
  /** Reads exactly `length` bytes at `offset`; rejects with BlobNotFoundError or a short-read error. */
  read(key: string, offset: number, length: number): Promise<Buffer>;
  /** Size in bytes of a committed object. */
  size(key: string): Promise<number>;
  /** Streams a committed object from `start` (inclusive) to `end` (exclusive). */
  stream(key: string, start?: number, end?: number): AsyncIterable<Buffer>;
  /** Removes a committed object; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Lists committed keys (for integrity scrubs and migration). */
  list(): AsyncIterable<string>;
  /**
   * Removes the temporary of one object that was never committed (a call that recovery did not
   * go on with), from this process or an earlier one; a missing one is not an error.
   */
  discard(key: string): Promise<void>;
  /** Removes temporaries left by a crash, except those in `keep`. Call at start, before any writer exists. */
  cleanOrphans(keep?: ReadonlySet<string>): Promise<number>;
  close(): Promise<void>;
}

export class BlobNotFoundError extends Error {
  constructor() {
    super('blob not found');
  }
}

export const BLOB_KEY = /^[0-9a-f]{32}$/;

export function assertBlobKey(key: string): void {
  if (!BLOB_KEY.test(key)) throw new BlobNotFoundError();
}
