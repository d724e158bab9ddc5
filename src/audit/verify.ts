// `callvault audit verify`: proves that no audit entry was altered, removed, inserted or
// reordered since it was checkpointed. Every entry is re-hashed from its columns; the tree is
// rebuilt from those hashes; each checkpoint (in the catalog and in the witness) must carry a
// valid signature and match the rebuilt tree's root at its size.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Kysely } from 'kysely';
import { catalogLocation } from '../catalog/db.ts';
import type { Database } from '../catalog/schema.ts';
import { CheckpointError, verifyCheckpoint, type Checkpoint } from './checkpoint.ts';
import { GapError, PAGE, rehashedPage } from './entry.ts';
import { MerkleTree, rootOfFrontier, TreeBuilder } from './merkle.ts';
import { catalogInclusionProof, entryLeaf } from './proofs.ts';
import { hashChunk, type ChunkResult, type ChunkTask } from './verify-chunk.ts';
import { sizeOfWitnessName, WitnessError, witnessFrom, type WitnessDeps } from './witness.ts';

export interface VerifyReport {
  entries: number;
  checkpoints: number;
  witnessed: number;
  latest: { size: number; where: 'catalog' | 'witness' } | null;
  problems: string[];
  /** Threads that re-hashed the log: 1 for one pass; in chunks, this one (if it took any) and the workers. */
  threads: number;
  /** Chunks the log was re-hashed in: 0 for one pass. */
  chunks: number;
}

export interface Signed {
  size: number;
  root: Buffer;
  where: string;
}

/**
 * Streams the log in order: re-hashes every entry from its columns, reports entries whose
 * stored hash differs and gaps in the sequence, and appends the recomputed hashes to `sink`.
 */
async function streamEntries(db: Kysely<Database>, problems: string[], sink: (leaf: Buffer, seq: number) => void): Promise<void> {
  let last = 0;
  for (;;) {
    const rows = await rehashedPage(db, last, PAGE);
    for (const r of rows) {
      if (!r.intact) problems.push(`entry ${r.seq}: its content does not match its hash (altered)`);
      // The log is numbered from 1: entries missing at its start are named like any others.
      if (r.seq !== last + 1) problems.push(`entries ${last + 1}..${r.seq - 1} are missing`);
      sink(r.leaf, r.seq);
      last = r.seq;
    }
    if (rows.length < PAGE) return;
    // Pages read from SQLite never leave the microtask queue: a server running this answers meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The whole tree in memory (for proofs). */
export async function loadTree(db: Kysely<Database>, problems: string[]): Promise<{ tree: MerkleTree; seqs: number[] }> {
  const tree = new MerkleTree();
  const seqs: number[] = [];
  await streamEntries(db, problems, (leaf, seq) => {
    tree.append(leaf);
    seqs.push(seq);
  });
  return { tree, seqs };
}

export interface Rebuilt {
  entries: number;
  threads: number;
  chunks: number;
  /** The rebuilt root at each checkpointed size the log reaches. */
  roots: Map<number, Buffer>;
  /** The sequence number of the last entry at each of those sizes. */
  seqAt: Map<number, number>;
}

/** One pass over the log with O(log n) memory: the rebuilt root is taken at each checkpointed size. */
async function inOnePass(db: Kysely<Database>, sizes: number[], problems: string[]): Promise<Rebuilt> {
  const roots = new Map<number, Buffer>();
  const seqAt = new Map<number, number>();
  const tree = new TreeBuilder();
  let next = 0;
  await streamEntries(db, problems, (leaf, seq) => {
    tree.append(leaf);
    while (next < sizes.length && sizes[next]! === tree.size) {
      roots.set(tree.size, tree.root());
      seqAt.set(tree.size, seq);
      next++;
    }
  });
  return { entries: tree.size, threads: 1, chunks: 0, roots, seqAt };
}

export const DEFAULT_CHUNK = 32_768;
/** Chunks a worker holds at once: the next is there when it finishes one, even while this thread is busy with its own. */
const AHEAD = 2;

export interface ParallelOptions {
  /** Worker threads besides this one (default: the cores this process may use but one, 1 to 7); 0 for one pass. */
  workers?: number;
  /** Leaves per chunk, a power of two (default 32,768); logs under two chunks take one pass. */
  chunk?: number;
  /** Whether this thread re-hashes chunks as well as handing them out (default true). */
  thisThread?: boolean;
}

const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './verify-worker.ts' : './verify-worker.js', import.meta.url);

/**
 * Worker threads for the parallel rebuild, started as soon as the log looks large enough for
 * them: a thread takes 0.3 s or more to start (most of it loading modules), while this one
 * reads the checkpoints and the witness and then re-hashes chunks itself.
 */
interface VerifyWorkers {
  /** Leaves per chunk. */
  chunk: number;
  workers: Worker[];
  /** Workers that have started and asked for work, in the order they did. */
  ready: Worker[];
  /** The first start-up error, if any. */
  failed: Error | null;
  onReady: (w: Worker) => void;
  close(): Promise<void>;
}

async function startWorkers(deps: { db: Kysely<Database>; parallel?: ParallelOptions }): Promise<VerifyWorkers | null> {
  const location = catalogLocation(deps.db);
  const chunk = deps.parallel?.chunk ?? DEFAULT_CHUNK;
  const want = deps.parallel?.workers ?? Math.max(1, Math.min(7, availableParallelism() - 1));
  if (!location || want < 1 || !Number.isSafeInteger(Math.log2(chunk))) return null;
  const top = await deps.db.selectFrom('audit_events').select((eb) => eb.fn.max('seq').as('hi')).executeTakeFirst();
  const hi = Number(top?.hi ?? 0);
  if (hi < 2 * chunk) return null;
  const pool: VerifyWorkers = {
    chunk,
    workers: Array.from({ length: Math.min(want, Math.ceil(hi / chunk)) }, () => new Worker(WORKER_URL, { workerData: { location } })),
    ready: [],
    failed: null,
    onReady: () => undefined,
    async close() {
      await Promise.all(pool.workers.map((w) => w.terminate()));
    },
  };
  for (const w of pool.workers) {
    // Until the rebuild hands out work, a start-up message only counts the worker in.
    w.once('message', () => {
      pool.ready.push(w);
      pool.onReady(w);
    });
    w.once('error', (err) => { pool.failed ??= err; });
  }
  return pool;
}

/**
 * The same rebuild spread over threads, chunk by aligned chunk (verify-chunk.ts): this one and
 * the workers, each worker on its own read-only connection. Only for a log whose sequence
 * numbers run 1..n without a gap (anything else takes the one pass, which names the gaps); null
 * whenever it cannot be used or the log changed shape meanwhile, and the one pass decides.
 */
async function inParallel(deps: { db: Kysely<Database>; parallel?: ParallelOptions }, pool: VerifyWorkers, sizes: number[], problems: string[]): Promise<Rebuilt | null> {
  const { chunk } = pool;
  const shape = await deps.db.selectFrom('audit_events')
    .select((eb) => [eb.fn.countAll<number | string>().as('n'), eb.fn.min('seq').as('lo'), eb.fn.max('seq').as('hi')]).executeTakeFirstOrThrow();
  const n = Number(shape.n);
  if (n < 2 * chunk || Number(shape.lo) !== 1 || Number(shape.hi) !== n) return null;

  // Sizes ascending, swept once into the chunks that hold them.
  const tasks: ChunkTask[] = [];
  let k = 0;
  for (let lo = 0; lo < n; lo += chunk) {
    const hi = Math.min(n, lo + chunk);
    while (k < sizes.length && sizes[k]! <= lo) k++;
    const inside: number[] = [];
    while (k < sizes.length && sizes[k]! < hi) inside.push(sizes[k++]!);
    tasks.push({ lo, hi, sizes: [...inside, hi] });
  }
  const wanted = new Set(sizes);
  const results = new Map<number, ChunkResult>();
  const hashedBy = new Set<Worker | 'this thread'>();
  const held = new Map<Worker, number>(pool.workers.map((w) => [w, 0]));
  let next = 0;
  let outstanding = 0; // chunks handed out and not yet back
  let stop = false;
  let own: Promise<void> = Promise.resolve();
  try {
    await new Promise<void>((resolve, reject) => {
      const maybeDone = () => {
        if (next >= tasks.length && outstanding === 0) resolve();
      };
      const feed = (w: Worker) => {
        while (!stop && held.get(w)! < AHEAD && next < tasks.length) {
          held.set(w, held.get(w)! + 1);
          outstanding++;
          w.postMessage(tasks[next++]);
        }
        maybeDone();
      };
      for (const w of pool.workers) {
        w.on('message', (m: { ready?: true; result?: ChunkResult; error?: string }) => {
          if (m.error !== undefined) return reject(new Error(m.error));
          if (!m.result) return;
          results.set(m.result.lo, m.result);
          hashedBy.add(w);
          held.set(w, held.get(w)! - 1);
          outstanding--;
          feed(w);
        });
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`a verification worker stopped (${code})`)));
      }
      if (pool.failed) reject(pool.failed);
      // Workers started already get work now; the others as they start.
      pool.onReady = feed;
      for (const w of pool.ready) feed(w);
      if (deps.parallel?.thisThread === false) return maybeDone();
      own = (async () => {
        while (!stop && next < tasks.length) {
          const task = tasks[next++]!;
          outstanding++;
          results.set(task.lo, await hashChunk(deps.db, task));
          hashedBy.add('this thread');
          outstanding--;
          // A chunk read from SQLite never leaves the microtask queue: the workers are heard here.
          await new Promise((r) => setImmediate(r));
        }
      })();
      own.then(maybeDone, reject);
    });
  } catch {
    stop = true;
    await own.catch(() => undefined);
    return null;
  }
  if (results.size !== tasks.length) return null;

  // Chunk roots in order form the upper tree; each checkpointed size inside a chunk adds that chunk's frontier.
  const upper = new TreeBuilder();
  const roots = new Map<number, Buffer>();
  const seqAt = new Map<number, number>();
  for (const task of tasks) {
    const r = results.get(task.lo)!;
    for (const seq of r.altered) problems.push(`entry ${seq}: its content does not match its hash (altered)`);
    for (const [size, frontier] of r.frontiers) {
      const local = frontier.map((h) => Buffer.from(h.buffer, h.byteOffset, h.byteLength));
      if (wanted.has(size)) {
        roots.set(size, rootOfFrontier([...upper.frontier(), ...local]));
        seqAt.set(size, size);
      }
      if (size === task.lo + chunk) upper.append(local[0]!);
    }
  }
  return { entries: n, threads: hashedBy.size, chunks: tasks.length, roots, seqAt };
}

/** How long the latest checkpoint may take to reach the witness (it is copied right after it is signed). */
const WITNESS_GRACE_MS = 5 * 60_000;

export async function verifyAuditLog(deps: { db: Kysely<Database>; vkey: string; parallel?: ParallelOptions; now?: () => number } & WitnessDeps): Promise<VerifyReport> {
  const pool = await startWorkers(deps);
  try {
    return await verifyWith(deps, pool);
  } finally {
    await pool?.close();
  }
}

async function verifyWith(deps: { db: Kysely<Database>; vkey: string; parallel?: ParallelOptions; now?: () => number } & WitnessDeps, pool: VerifyWorkers | null): Promise<VerifyReport> {
  const problems: string[] = [];
  const signed: Signed[] = [];
  const readCheckpoints = (above: number) => deps.db.selectFrom('audit_checkpoints').selectAll().where('size', '>', above).orderBy('size').execute();
  const stored = await readCheckpoints(0);
  // The witness holds the same notes as the catalog, byte for byte: each note's signature is
  // checked once (an Ed25519 verification is 0.1 ms, and a log signed every minute has millions).
  const opened = new Map<string, Checkpoint>();
  const open = (note: string | Uint8Array): Checkpoint => {
    const bytes = Buffer.from(note).toString('latin1');
    let cp = opened.get(bytes);
    if (!cp) opened.set(bytes, (cp = verifyCheckpoint(note, deps.vkey)));
    return cp;
  };
  const checkStored = (c: (typeof stored)[number]) => {
    try {
      const cp = open(c.note);
      if (cp.size !== c.size || !cp.rootHash.equals(Buffer.from(c.root))) problems.push(`catalog checkpoint ${c.size}: its columns disagree with its signed note`);
      signed.push({ size: cp.size, root: cp.rootHash, where: `catalog checkpoint of size ${cp.size}` });
    } catch (err) {
      problems.push(`catalog checkpoint ${c.size}: ${err instanceof CheckpointError ? err.message : String(err)}`);
    }
  };
  for (const c of stored) checkStored(c);
  let witnessed = 0;
  const inWitness = new Set<number>();
  const witness = witnessFrom(deps);
  try {
    // Before the first checkpoint there is nothing to witness, and a directory witness is made
    // only with its first copy; once the catalog holds checkpoints, a witness that is gone is a problem.
    const nothingYet = stored.length === 0 && (await witness.sizes()).length === 0;
    for await (const { name, note } of nothingYet ? [] : witness.list()) {
      try {
        const cp = open(note);
        if (sizeOfWitnessName(name) !== cp.size) problems.push(`witness ${name}: it holds the checkpoint of size ${cp.size} (renamed)`);
        signed.push({ size: cp.size, root: cp.rootHash, where: `witness checkpoint of size ${cp.size}` });
        inWitness.add(cp.size);
        witnessed++;
      } catch (err) {
        problems.push(`witness ${name}: ${err instanceof CheckpointError ? err.message : String(err)}`);
      }
    }
  } catch (err) {
    if (!(err instanceof WitnessError)) throw err;
    problems.push(err.message);
  }
  // Checkpoints signed while the witness was read (a server's timer runs on): the witness may
  // hold them already, which is no rollback. They are checked like the others.
  const firstRead = stored.at(-1);
  // A checkpoint is copied to the witness right after it is signed: the latest one signed before
  // the witness was read (if recent) and those signed since may be on their way there still.
  const mayBeOnTheWay = new Set(firstRead && firstRead.created_at > (deps.now ?? Date.now)() - WITNESS_GRACE_MS ? [firstRead.size] : []);
  for (const c of await readCheckpoints(firstRead?.size ?? 0)) {
    stored.push(c);
    checkStored(c);
    mayBeOnTheWay.add(c.size);
  }
  const maxCatalog = stored.at(-1)?.size ?? 0;
  // Every catalog checkpoint is copied to the witness, and nothing leaves either: one missing
  // from the witness was removed from it (or not copied yet, if it is new), one missing from
  // the catalog was removed from the catalog.
  const unwitnessed = stored.filter((c) => !inWitness.has(c.size) && !mayBeOnTheWay.has(c.size)).map((c) => c.size);
  if (unwitnessed.length > 0) problems.push(`${unwitnessed.length} catalog checkpoint(s) are not in the witness (sizes ${listSizes(unwitnessed)}): removed from it, or never copied`);
  const inCatalog = new Set(stored.map((c) => c.size));
  const uncatalogued = [...inWitness].filter((size) => size <= maxCatalog && !inCatalog.has(size)).sort((a, b) => a - b);
  if (uncatalogued.length > 0) problems.push(`the catalog lacks checkpoint(s) the witness holds (sizes ${listSizes(uncatalogued)}): removed from the catalog`);
  const sizes = [...new Set(signed.map((s) => s.size))].sort((a, b) => a - b);
  const rebuilt = (pool && (await inParallel(deps, pool, sizes, problems))) ?? (await inOnePass(deps.db, sizes, problems));
  const latest = compareWithCheckpoints(signed, maxCatalog, rebuilt, problems);
  return { entries: rebuilt.entries, checkpoints: stored.length, witnessed, latest, problems, threads: rebuilt.threads, chunks: rebuilt.chunks };
}

/** Sizes for a message: the first few, and how many more. */
function listSizes(sizes: readonly number[]): string {
  return sizes.length <= 5 ? sizes.join(', ') : `${sizes.slice(0, 5).join(', ')} and ${sizes.length - 5} more`;
}

/**
 * Each signed checkpoint against the rebuilt root at its size, and the witness against the
 * catalog's latest (a rollback). Linear in the checkpoints: a log signed every minute for
 * five years holds millions of them.
 */
export function compareWithCheckpoints(signed: readonly Signed[], maxCatalog: number, rebuilt: Omit<Rebuilt, 'threads' | 'chunks'>, problems: string[]): VerifyReport['latest'] {
  const { entries, roots, seqAt } = rebuilt;
  const bySize = new Map<number, Signed[]>();
  let maxWitness = 0;
  for (const s of signed) {
    const list = bySize.get(s.size);
    if (list) list.push(s);
    else bySize.set(s.size, [s]);
    if (s.where.startsWith('witness') && s.size > maxWitness) maxWitness = s.size;
  }
  if (maxWitness > maxCatalog) problems.push(`checkpoints were rolled back: the witness holds size ${maxWitness}, the catalog's latest is ${maxCatalog}`);
  const sizes = [...bySize.keys()].sort((a, b) => a - b);
  let goodUpTo = 0;
  for (const size of sizes) {
    const at = bySize.get(size)!;
    const root = roots.get(size);
    if (size > entries || !root) {
      problems.push(`the log was truncated: ${at[0]!.where} covers ${size} entries, the log has ${entries}`);
      continue;
    }
    for (const b of at.filter((s) => !s.root.equals(root))) {
      problems.push(`${b.where} does not match the log: an entry between ${goodUpTo ? (seqAt.get(goodUpTo) ?? 0) + 1 : 1} and ${seqAt.get(size)} was altered, removed, inserted or moved`);
    }
    if (at.every((s) => s.root.equals(root))) goodUpTo = size;
  }
  return sizes.length ? { size: sizes[sizes.length - 1]!, where: maxWitness >= maxCatalog ? 'witness' : 'catalog' } : null;
}

/** An entry's leaf and, when a checkpoint covers it, its path to that checkpoint's root (hex). */
export interface EntryProof {
  seq: number;
  index: number;
  leafHash: string;
  size?: number;
  rootHash?: string;
  proof?: string[];
  checkpoint: string | null;
}

/**
 * An inclusion proof of entry `seq` in the latest catalog checkpoint that covers it: from the
 * catalog's tiles (proofs.ts) when the log's sequence numbers run 1..n without a gap, else by
 * rebuilding the tree (which finds the entry's place however the log was altered).
 */
export async function proveEntry(db: Kysely<Database>, seq: number): Promise<EntryProof | null> {
  if (!Number.isSafeInteger(seq) || seq < 1) return null;
  const leaf = await entryLeaf(db, seq);
  if (!leaf) return null;
  const index = seq - 1;
  const cp = await db.selectFrom('audit_checkpoints').selectAll().where('size', '>', index).orderBy('size', 'desc').executeTakeFirst();
  if (!cp) {
    // Newer than the latest checkpoint (the usual case for a fresh entry): no proof to give, and
    // its place is seq - 1 when no entry before it is missing, which a count says without
    // re-hashing the log.
    const before = await db.selectFrom('audit_events').select((eb) => eb.fn.countAll<number | string>().as('n')).where('seq', '<=', seq).executeTakeFirstOrThrow();
    return Number(before.n) === seq ? { seq, index, leafHash: leaf.toString('hex'), checkpoint: null } : proveByRebuilding(db, seq);
  }
  try {
    // Reading the tiles and leaves checks that the sequence numbers up to the checkpoint run without a gap.
    const proof = await catalogInclusionProof(db, index, cp.size);
    return {
      seq, index, leafHash: leaf.toString('hex'), size: cp.size, rootHash: Buffer.from(cp.root).toString('hex'),
      proof: proof.map((h) => h.toString('hex')), checkpoint: cp.note,
    };
  } catch (err) {
    if (!(err instanceof GapError)) throw err;
    return proveByRebuilding(db, seq);
  }
}

async function proveByRebuilding(db: Kysely<Database>, seq: number): Promise<EntryProof | null> {
  const problems: string[] = [];
  const { tree, seqs } = await loadTree(db, problems);
  const index = seqs.indexOf(seq);
  if (index < 0) return null;
  // A log cut short of its checkpoints (audit verify names it) is proved only in those it still reaches.
  const cp = await db.selectFrom('audit_checkpoints').selectAll().where('size', '>', index).where('size', '<=', tree.size).orderBy('size', 'desc').executeTakeFirst();
  if (!cp) return { seq, index, leafHash: tree.leaf(index).toString('hex'), checkpoint: null };
  return {
    seq, index, leafHash: tree.leaf(index).toString('hex'), size: cp.size, rootHash: Buffer.from(cp.root).toString('hex'),
    proof: tree.inclusionProof(index, cp.size).map((h) => h.toString('hex')), checkpoint: cp.note,
  };
}
