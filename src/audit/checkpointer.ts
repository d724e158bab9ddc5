// Signed checkpoints of the audit log: the Merkle tree's size and root, in a C2SP signed note
// (Ed25519), kept in the catalog and copied to a witness directory the server only adds to.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { signCheckpoint, verifierKey } from './checkpoint.ts';
import { TreeBuilder } from './merkle.ts';

/** The log's name in its checkpoints: stable for an archive, saying nothing about its content. */
export function logOrigin(archiveRecipient: string): string {
  return `callvault.audit/${createHash('sha256').update(archiveRecipient).digest('hex').slice(0, 16)}`;
}

export function auditVerifierKey(origin: string, signingKey: KeyObject): string {
  return verifierKey(origin, createPublicKey(signingKey));
}

export const witnessFileName = (size: number) => `checkpoint-${String(size).padStart(12, '0')}.txt`;

export interface Checkpointer {
  /** Signs a checkpoint if the log grew since the last one; returns it, or null. */
  checkpoint(): Promise<{ size: number; note: string } | null>;
}

export async function createCheckpointer(deps: { db: Kysely<Database>; signingKey: KeyObject; origin: string; witnessDir: string; now?: () => number }): Promise<Checkpointer> {
  const now = deps.now ?? Date.now;
  await mkdir(deps.witnessDir, { recursive: true, mode: 0o700 });
  const tree = new TreeBuilder();
  let lastSeq = 0;
  let running: Promise<{ size: number; note: string } | null> | null = null;

  async function catchUp(): Promise<void> {
    for (;;) {
      const rows = await deps.db.selectFrom('audit_events').select(['seq', 'leaf_hash']).where('seq', '>', lastSeq).orderBy('seq').limit(50_000).execute();
      for (const r of rows) tree.append(Buffer.from(r.leaf_hash));
      if (rows.length > 0) lastSeq = rows[rows.length - 1]!.seq;
      if (rows.length < 50_000) return;
    }
  }

  async function run(): Promise<{ size: number; note: string } | null> {
    await catchUp();
    const last = await deps.db.selectFrom('audit_checkpoints').select('size').orderBy('size', 'desc').executeTakeFirst();
    if (tree.size === 0 || (last && last.size >= tree.size)) return null;
    const root = tree.root();
    const note = signCheckpoint({ origin: deps.origin, size: tree.size, rootHash: root, privateKey: deps.signingKey, keyName: deps.origin });
    // Several nodes on one catalog each run a checkpointer: the first to record a size signs it,
    // the others find it taken and leave it (the note would be the same bytes: Ed25519 is
    // deterministic and the log is one).
    const taken = await deps.db.insertInto('audit_checkpoints').values({ size: tree.size, root, note, created_at: now() })
      .onConflict((oc) => oc.column('size').doNothing()).executeTakeFirst();
    if (Number(taken.numInsertedOrUpdatedRows ?? 0n) !== 1) return null;
    // The witness copy: a new file each time, never overwritten.
    await writeFile(join(deps.witnessDir, witnessFileName(tree.size)), note, { flag: 'wx', mode: 0o400 });
    return { size: tree.size, note };
  }

  return {
    checkpoint() {
      // One at a time: a timer and a shutdown may ask together.
      running ??= run().finally(() => { running = null; });
      return running;
    },
  };
}
