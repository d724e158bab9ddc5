// `callvault audit verify`: proves that no audit entry was altered, removed, inserted or
// reordered since it was checkpointed. Every entry is re-hashed from its columns; the tree is
// rebuilt from those hashes; each checkpoint (in the catalog and in the witness) must carry a
// valid signature and match the rebuilt tree's root at its size.
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { CheckpointError, verifyCheckpoint } from './checkpoint.ts';
import { entryLeafHash } from './entry.ts';
import { MerkleTree, TreeBuilder } from './merkle.ts';
import { WitnessError, witnessFrom, type WitnessDeps } from './witness.ts';

export interface VerifyReport {
  entries: number;
  checkpoints: number;
  witnessed: number;
  latest: { size: number; where: 'catalog' | 'witness' } | null;
  problems: string[];
}

interface Signed {
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
  let first = true;
  for (;;) {
    const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', last).orderBy('seq').limit(20_000).execute();
    for (const r of rows) {
      const computed = entryLeafHash(r);
      if (!computed.equals(Buffer.from(r.leaf_hash ?? []))) problems.push(`entry ${r.seq}: its content does not match its hash (altered)`);
      if (r.seq !== last + 1 && !first) problems.push(`entries ${last + 1}..${r.seq - 1} are missing`);
      first = false;
      sink(computed, r.seq);
      last = r.seq;
    }
    if (rows.length < 20_000) return;
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

export async function verifyAuditLog(deps: { db: Kysely<Database>; vkey: string } & WitnessDeps): Promise<VerifyReport> {
  const problems: string[] = [];
  const signed: Signed[] = [];
  const stored = await deps.db.selectFrom('audit_checkpoints').selectAll().orderBy('size').execute();
  for (const c of stored) {
    try {
      const cp = verifyCheckpoint(c.note, deps.vkey);
      if (cp.size !== c.size || !cp.rootHash.equals(Buffer.from(c.root))) problems.push(`catalog checkpoint ${c.size}: its columns disagree with its signed note`);
      signed.push({ size: cp.size, root: cp.rootHash, where: `catalog checkpoint of size ${cp.size}` });
    } catch (err) {
      problems.push(`catalog checkpoint ${c.size}: ${err instanceof CheckpointError ? err.message : String(err)}`);
    }
  }
  let witnessed = 0;
  const witness = witnessFrom(deps);
  try {
    // Before the first checkpoint there is nothing to witness, and a directory witness is made
    // only with its first copy; once the catalog holds checkpoints, a witness that is gone is a problem.
    const nothingYet = stored.length === 0 && (await witness.sizes()).length === 0;
    for await (const { name, note } of nothingYet ? [] : witness.list()) {
      try {
        const cp = verifyCheckpoint(note, deps.vkey);
        signed.push({ size: cp.size, root: cp.rootHash, where: `witness checkpoint of size ${cp.size}` });
        witnessed++;
      } catch (err) {
        problems.push(`witness ${name}: ${err instanceof CheckpointError ? err.message : String(err)}`);
      }
    }
  } catch (err) {
    if (!(err instanceof WitnessError)) throw err;
    problems.push(err.message);
  }
  // One pass over the log with O(log n) memory: the rebuilt root is taken at each checkpointed size.
  const sizes = [...new Set(signed.map((s) => s.size))].sort((a, b) => a - b);
  const roots = new Map<number, Buffer>();
  const seqAt = new Map<number, number>();
  const tree = new TreeBuilder();
  let next = 0;
  await streamEntries(deps.db, problems, (leaf, seq) => {
    tree.append(leaf);
    while (next < sizes.length && sizes[next]! === tree.size) {
      roots.set(tree.size, tree.root());
      seqAt.set(tree.size, seq);
      next++;
    }
  });
  const maxCatalog = stored.length ? stored[stored.length - 1]!.size : 0;
  const maxWitness = Math.max(0, ...signed.filter((s) => s.where.startsWith('witness')).map((s) => s.size));
  if (maxWitness > maxCatalog) problems.push(`checkpoints were rolled back: the witness holds size ${maxWitness}, the catalog's latest is ${maxCatalog}`);
  let goodUpTo = 0;
  for (const size of sizes) {
    const at = signed.filter((s) => s.size === size);
    const root = roots.get(size);
    if (size > tree.size || !root) {
      problems.push(`the log was truncated: ${at[0]!.where} covers ${size} entries, the log has ${tree.size}`);
      continue;
    }
    for (const b of at.filter((s) => !s.root.equals(root))) {
      problems.push(`${b.where} does not match the log: an entry between ${goodUpTo ? (seqAt.get(goodUpTo) ?? 0) + 1 : 1} and ${seqAt.get(size)} was altered, removed, inserted or moved`);
    }
    if (at.every((s) => s.root.equals(root))) goodUpTo = size;
  }
  const latest = sizes.length ? { size: sizes[sizes.length - 1]!, where: maxWitness >= maxCatalog ? 'witness' as const : 'catalog' as const } : null;
  return { entries: tree.size, checkpoints: stored.length, witnessed, latest, problems };
}

/** An inclusion proof of entry `seq` in the latest catalog checkpoint that covers it. */
export async function proveEntry(db: Kysely<Database>, seq: number) {
  const problems: string[] = [];
  const { tree, seqs } = await loadTree(db, problems);
  const index = seqs.indexOf(seq);
  if (index < 0) return null;
  const cp = await db.selectFrom('audit_checkpoints').selectAll().where('size', '>', index).orderBy('size', 'desc').executeTakeFirst();
  if (!cp) return { seq, index, leafHash: tree.leaf(index).toString('hex'), checkpoint: null };
  return {
    seq, index, leafHash: tree.leaf(index).toString('hex'), size: cp.size, rootHash: Buffer.from(cp.root).toString('hex'),
    proof: tree.inclusionProof(index, cp.size).map((h) => h.toString('hex')), checkpoint: cp.note,
  };
}
