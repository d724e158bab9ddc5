// The ingest journal: how a live call's bytes become durable before they are acknowledged,
// without one fsync per request. Every PATCH appends a record of its bytes, sealed under a key
// derived from the recording's own file key, to one shared append-only file; a single writer
// flushes whatever has accumulated with one write and one fdatasync, then acknowledges all of
// it at once (group commit). Full 64 KiB chunks also go to the recording's temporary blob
// without waiting for fsync: until a BASE record says they are durable, the journal covers them.
//
// Record: u32 length of the rest | u32 CRC-32 of the rest | u8 type | 16-byte upload id |
//         u64 offset | u32 chunks | payload.  A torn tail (crash mid-write) fails its CRC and
//         ends the replay of that file; nothing after it was ever acknowledged.
// Invariants: no plaintext is written (payloads are sealed); records of one upload are in
// offset order within a file; a file is deleted only once every upload it covered is closed
// or rebased (a BASE in a newer file).
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir } from '../lib/fsync-dir.ts';
import { GroupCommit } from './group-commit.ts';

// Delta: bytes of a PATCH. Base: where a call stands after a rotation (chunks durable in its
// object, and the tail after them). Which calls are still open is the catalog's `uploads` table.
export const RECORD = { delta: 1, base: 2 } as const;
export type RecordType = (typeof RECORD)[keyof typeof RECORD];

export interface JournalRecord {
  type: RecordType;
  uploadId: string;
  offset: number;
  chunks: number;
  payload: Buffer;
}

const HEAD = 4 + 4 + 1 + 16 + 8 + 4;

/** The record as two pieces to write back to back (header, payload): the payload is not copied. */
export function encodeRecordParts(r: JournalRecord): [Buffer, Buffer] {
  const head = Buffer.allocUnsafe(HEAD);
  head.writeUInt32BE(HEAD - 8 + r.payload.length, 0);
  head.writeUInt8(r.type, 8);
  head.write(r.uploadId, 9, 16, 'hex');
  head.writeBigUInt64BE(BigInt(r.offset), 25);
  head.writeUInt32BE(r.chunks, 33);
  head.writeUInt32BE(crc32(r.payload, crc32(head.subarray(8))), 4);
  return [head, r.payload];
}

export function encodeRecord(r: JournalRecord): Buffer {
  return Buffer.concat(encodeRecordParts(r));
}

/** Decodes whole records from `buf`; returns them and how many bytes they used. */
export function decodeRecords(buf: Buffer): { records: JournalRecord[]; used: number; torn: boolean } {
  const records: JournalRecord[] = [];
  let at = 0;
  while (buf.length - at >= 8) {
    const len = buf.readUInt32BE(at);
    if (len < HEAD - 8 || len > 64 * 1024 * 1024) return { records, used: at, torn: true };
    if (buf.length - at - 8 < len) break;
    const body = buf.subarray(at + 8, at + 8 + len);
    if (crc32(body) !== buf.readUInt32BE(at + 4)) return { records, used: at, torn: true };
    const type = body.readUInt8(0) as RecordType;
    if (type !== RECORD.delta && type !== RECORD.base) return { records, used: at, torn: true };
    records.push({
      type,
      uploadId: body.toString('hex', 1, 17),
      offset: Number(body.readBigUInt64BE(17)),
      chunks: body.readUInt32BE(25),
      payload: Buffer.from(body.subarray(29)),
    });
    at += 8 + len;
  }
  return { records, used: at, torn: false };
}

const FILE = /^journal-(\d{8})\.log$/;
const fileName = (gen: number) => `journal-${String(gen).padStart(8, '0')}.log`;

export async function journalFiles(dir: string): Promise<Array<{ gen: number; path: string }>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return (await readdir(dir)).flatMap((n) => {
    const m = FILE.exec(n);
    return m ? [{ gen: Number(m[1]), path: join(dir, n) }] : [];
  }).sort((a, b) => a.gen - b.gen);
}

/** Replays every journal file in order. A torn record ends its file's replay. */
export async function* readJournal(dir: string): AsyncGenerator<JournalRecord & { gen: number }> {
  for (const { gen, path } of await journalFiles(dir)) {
    const fh = await open(path, 'r');
    try {
      let carry = Buffer.alloc(0);
      let pos = 0;
      for (;;) {
        const chunk = Buffer.allocUnsafe(8 * 1024 * 1024);
        const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
        if (bytesRead === 0) break;
        pos += bytesRead;
        const buf = carry.length ? Buffer.concat([carry, chunk.subarray(0, bytesRead)]) : chunk.subarray(0, bytesRead);
        const { records, used, torn } = decodeRecords(buf);
        for (const r of records) yield { ...r, gen };
        if (torn) break;
        carry = Buffer.from(buf.subarray(used));
      }
    } finally {
      await fh.close();
    }
  }
}

/** The id of the upload a record is about, read from its encoded head (encodeRecordParts). */
export function recordUploadId(head: Buffer): string {
  return head.toString('hex', 9, 25);
}

/**
 * Where acknowledged bytes become durable. Two adapters: files in the data directory (Journal,
 * the embedded default) and a catalog table any node can read (CatalogJournal, PostgreSQL).
 */
export interface IngestJournal {
  readonly kind: 'file' | 'catalog';
  readonly generation: number;
  /** Bytes in the current generation, durable or pending. */
  readonly size: number;
  /** Bytes waiting for the next flush. */
  readonly backlog: number;
  readonly stats: { flushes: number; records: number };
  /** Resolves once `record` (one encoded record, whole or as head and payload) and everything before it is durable. */
  append(record: Buffer | readonly Buffer[]): Promise<void>;
  /** Resolves once everything appended so far is durable. */
  sync(): Promise<void>;
  /** Starts the next generation; returns those before it (to retire once every call is rebased). */
  rotate(): Promise<number[]>;
  retire(gens: number[]): Promise<void>;
  close(): Promise<void>;
}

/** The append side: files in the data directory, group-committed with one write and one fdatasync. */
export class Journal implements IngestJournal {
  readonly kind = 'file';
  readonly dir: string;
  #fh: FileHandle;
  #gen: number;
  #size = 0;
  #commit: GroupCommit<Buffer>;

  private constructor(dir: string, fh: FileHandle, gen: number) {
    this.dir = dir;
    this.#fh = fh;
    this.#gen = gen;
    this.#commit = new GroupCommit<Buffer>((batch, bytes) => this.#writeBatch(batch, bytes));
  }

  /** Starts a new generation after whatever files exist (they stay until retired). */
  static async open(dir: string): Promise<Journal> {
    const files = await journalFiles(dir);
    const gen = (files.at(-1)?.gen ?? 0) + 1;
    const fh = await open(join(dir, fileName(gen)), 'wx', 0o600);
    // The new file's name is made durable before anything written to it is acknowledged.
    await fsyncDir(dir);
    return new Journal(dir, fh, gen);
  }

  /** Flushes done and pieces made durable, for tests and metrics. */
  get stats(): { flushes: number; records: number } {
    return this.#commit.stats;
  }

  get generation(): number {
    return this.#gen;
  }

  /** Bytes in the current file, durable or pending. */
  get size(): number {
    return this.#size + this.#commit.backlog;
  }

  /** Bytes waiting for the next flush. */
  get backlog(): number {
    return this.#commit.backlog;
  }

  /** Resolves once `record` (and everything appended before it) is durable. Pieces are written back to back. */
  append(record: Buffer | readonly Buffer[]): Promise<void> {
    const pieces = (Buffer.isBuffer(record) ? [record] : record).filter((p) => p.length > 0);
    let bytes = 0;
    for (const p of pieces) bytes += p.length;
    return this.#commit.add(pieces, bytes);
  }

  /** Resolves once everything appended so far is durable. */
  sync(): Promise<void> {
    return this.#commit.sync();
  }

  async #writeBatch(batch: Buffer[], bytes: number): Promise<void> {
    let pos = this.#size;
    let rest = [...batch];
    while (rest.length > 0) {
      const { bytesWritten } = await this.#fh.writev(rest, pos);
      pos += bytesWritten;
      let skip = bytesWritten;
      while (rest.length > 0 && skip >= rest[0]!.length) skip -= rest.shift()!.length;
      if (skip > 0) rest = [rest[0]!.subarray(skip), ...rest.slice(1)];
    }
    if (bytes > 0) await this.#fh.datasync();
    this.#size += bytes;
  }

  /**
   * Starts the next file; returns the generations before it (to retire once rebased). The
   * switch happens between two flushes: every flush writes and syncs one file whole, and what
   * is appended during the switch goes to the new file.
   */
  rotate(): Promise<number[]> {
    return this.#commit.between(async () => {
      const before = (await journalFiles(this.dir)).map((f) => f.gen);
      const gen = before.at(-1)! + 1;
      const fh = await open(join(this.dir, fileName(gen)), 'wx', 0o600);
      await fsyncDir(this.dir);
      const old = this.#fh;
      this.#fh = fh;
      this.#gen = gen;
      this.#size = 0;
      await old.close();
      return before;
    });
  }

  /** Deletes journal files of the given generations. */
  async retire(gens: number[]): Promise<void> {
    for (const g of gens) if (g !== this.#gen) await rm(join(this.dir, fileName(g)), { force: true });
  }

  async close(): Promise<void> {
    await this.sync().catch(() => undefined);
    // Not under a rotation that is switching files; a failed journal just closes its file.
    await this.#commit.between(() => this.#fh.close()).catch(() => this.#fh.close());
  }
}
