// The witness: a place outside the catalog that the server can only add signed checkpoints to,
// so that a rewritten catalog (or a rolled-back one) shows against it. Two adapters: a directory
// (the default, DATA-witness) here, and an S3 bucket (witness-s3.ts).
// Invariants:
//  - one object per checkpoint size, named checkpoint-<size, 12 digits>.txt; never overwritten;
//  - adding bytes that are already there under that size is success (several nodes copy the same
//    catalog checkpoint); different bytes there is a WitnessConflictError and the witness is left
//    as it is;
//  - every error is a WitnessError whose message names the witness and the failure, never a
//    credential or the SDK's text.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileDurable, fsyncNames } from '../lib/fsync-dir.ts';

export interface WitnessedNote {
  /** checkpoint-000000000123.txt */
  name: string;
  note: Buffer;
}

export interface Witness {
  /** Adds the signed note of checkpoint `size`, or finds the same bytes there already. */
  add(size: number, note: string): Promise<void>;
  /** The sizes witnessed so far (names only, no reads); nothing yet is none. */
  sizes(): Promise<number[]>;
  /** Every witnessed note, in size order; a witness that cannot be read throws. */
  list(): AsyncIterable<WitnessedNote>;
  /** Where it is, for messages: a directory, or s3://BUCKET/PREFIX/. */
  describe(): string;
  close(): Promise<void>;
}

export class WitnessError extends Error {}

/** The witness holds another note under a size: someone else wrote there, or the catalog's note changed. */
export class WitnessConflictError extends WitnessError {}

export const witnessFileName = (size: number) => `checkpoint-${String(size).padStart(12, '0')}.txt`;

const WITNESS_NAME = /^checkpoint-(\d{12})\.txt$/;

/** The size a witness file name stands for, or null for any other name. */
export function sizeOfWitnessName(name: string): number | null {
  const m = WITNESS_NAME.exec(name);
  return m ? Number(m[1]) : null;
}

export function witnessConflict(where: string, size: number): WitnessConflictError {
  return new WitnessConflictError(`the witness ${where} already holds a different checkpoint of size ${size}; it is left as it is ` +
    '(run callvault audit verify, and find out who else writes there)');
}

/** What a caller gives: a witness, or only the path of a directory witness (what tests and benchmarks hold). */
export type WitnessDeps = { witness: Witness } | { witnessDir: string };

export const witnessFrom = (deps: WitnessDeps): Witness => ('witness' in deps ? deps.witness : createDirWitness(deps.witnessDir));

/**
 * A directory witness: each checkpoint a new file (mode 0400, created with O_EXCL). Make the
 * directory append-only (chattr +a) or keep it on another host for the server to only add to.
 */
export function createDirWitness(dir: string): Witness {
  const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code ?? String(err);
  /** The checkpoint file names in the directory, in size order. */
  async function names(o: { missingIsEmpty: boolean }): Promise<string[]> {
    try {
      return (await readdir(dir)).filter((n) => WITNESS_NAME.test(n)).sort();
    } catch (err) {
      if (o.missingIsEmpty && code(err) === 'ENOENT') return [];
      throw new WitnessError(`the witness ${dir} cannot be read (${code(err)})`, { cause: err });
    }
  }
  return {
    async add(size, note) {
      const path = join(dir, witnessFileName(size));
      try {
        // Created when first needed: a directory that vanished later shows in `audit verify`.
        const made = await mkdir(dir, { recursive: true, mode: 0o700 });
        // Durable before the add returns: the bytes, the name, and the names of directories made
        // for it (each held by its parent). An empty file left by a power cut would be a false
        // alarm at every verify, and a conflict when the checkpoint is copied again.
        await createFileDurable(path, note, 0o400);
        await fsyncNames(dir, made);
        return;
      } catch (err) {
        if (code(err) !== 'EEXIST') throw new WitnessError(`checkpoint ${size} could not be copied to the witness ${dir} (${code(err)})`, { cause: err });
      }
      const there = await readFile(path).catch((err: unknown) => {
        throw new WitnessError(`the witness ${dir} holds checkpoint ${size} but it cannot be read (${code(err)})`, { cause: err });
      });
      if (!there.equals(Buffer.from(note))) throw witnessConflict(dir, size);
    },

    async sizes() {
      // Nothing written yet is nothing witnessed; for verification (list) a missing directory is a problem.
      return (await names({ missingIsEmpty: true })).map((n) => sizeOfWitnessName(n)!);
    },

    async *list() {
      for (const name of await names({ missingIsEmpty: false })) {
        const note = await readFile(join(dir, name)).catch((err: unknown) => {
          throw new WitnessError(`the witness ${dir}: ${name} cannot be read (${code(err)})`, { cause: err });
        });
        yield { name, note };
      }
    },

    describe: () => dir,
    async close() {},
  };
}
