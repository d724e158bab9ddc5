// One aligned stretch of the audit log, re-hashed on its own, so that `audit verify` can spread
// the log over worker threads: the entries with seq lo+1..hi are the leaves lo..hi-1 (the log's
// sequence numbers run 1..n without a gap, checked before the work is split), and lo is a
// multiple of the chunk width, a power of two. The chunk's frontier at a size s in (lo, hi]
// follows the frontier of the chunks before it to give the whole tree's root at s
// (merkle.ts rootOfFrontier).
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { entryLeafHash } from './entry.ts';
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
  /** [size, the chunk's frontier at that size] for each size asked. */
  frontiers: Array<[number, Buffer[]]>;
}

/** The log changed shape under the check (an entry missing or out of place): the caller starts over in one pass. */
export class ChunkShapeError extends Error {}

const PAGE = 16_384;

export async function hashChunk(db: Kysely<Database>, task: ChunkTask): Promise<ChunkResult> {
  const tree = new TreeBuilder();
  const altered: number[] = [];
  const frontiers: Array<[number, Buffer[]]> = [];
  let next = 0;
  let last = task.lo;
  while (last < task.hi) {
    const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', last).where('seq', '<=', task.hi).orderBy('seq').limit(PAGE).execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.seq !== last + 1) throw new ChunkShapeError(`entry ${last + 1} is not where it was`);
      const computed = entryLeafHash(r);
      if (!computed.equals(Buffer.from(r.leaf_hash ?? []))) altered.push(r.seq);
      tree.append(computed);
      last = r.seq;
      while (next < task.sizes.length && task.sizes[next] === last) frontiers.push([task.sizes[next++]!, tree.frontier()]);
    }
  }
  if (last !== task.hi) throw new ChunkShapeError(`entries ${last + 1}..${task.hi} are not where they were`);
  return { lo: task.lo, altered, frontiers };
}
