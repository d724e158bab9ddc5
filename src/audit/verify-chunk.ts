// One aligned stretch of the audit log, re-hashed on its own, so that `audit verify` can spread
// the log over worker threads: the entries with seq lo+1..hi are the leaves lo..hi-1 (the log's
// sequence numbers run 1..n without a gap, checked before the work is split), and lo is a
// multiple of the chunk width, a power of two. The chunk's frontier at a size s in (lo, hi]
// follows the frontier of the chunks before it to give the whole tree's root at s
// (merkle.ts rootOfFrontier).
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { contiguousPages, rehashedPage } from './entry.ts';
import { TreeBuilder } from './merkle.ts';

export interface ChunkTask {
  lo: number;
  hi: number;
  /** Tree sizes in (lo, hi], ascending, at which the chunk's frontier is wanted; hi among them. */
  sizes: number[];
}

export interface ChunkResult {
  lo: number;
  /** Entries whose content no longer matches their stored hash. */
  altered: number[];
  /**
   * [size, the chunk's frontier at that size] for each size asked, each hash in a buffer of its
   * own: the tree's hashes are views into Node's shared pool, and a view sent to another thread
   * takes its whole pool slab along.
   */
  frontiers: Array<[number, Uint8Array[]]>;
}

export async function hashChunk(db: Kysely<Database>, task: ChunkTask): Promise<ChunkResult> {
  const tree = new TreeBuilder();
  const altered: number[] = [];
  const frontiers: Array<[number, Uint8Array[]]> = [];
  let next = 0;
  // The log changed shape under the check (GapError): the caller starts over in one pass.
  const pages = contiguousPages(task.lo, task.hi, (after, limit) => rehashedPage(db, after, limit, task.hi));
  for await (const rows of pages) {
    for (const r of rows) {
      if (!r.intact) altered.push(r.seq);
      tree.append(r.leaf);
      while (next < task.sizes.length && task.sizes[next] === r.seq) frontiers.push([task.sizes[next++]!, tree.frontier().map((h) => new Uint8Array(h))]);
    }
  }
  return { lo: task.lo, altered, frontiers };
}
