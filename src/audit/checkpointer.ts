// Signed checkpoints of the audit log: the Merkle tree's size and root, in a C2SP signed note
// (Ed25519), kept in the catalog and copied to a witness the server only adds to (witness.ts).
// A copy that fails (the witness is away) leaves the checkpoint in the catalog; every round
// copies whatever catalog checkpoint the witness still lacks, whichever node signed it.
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { signCheckpoint, verifierKey } from './checkpoint.ts';
import { TreeBuilder } from './merkle.ts';
import { WitnessConflictError, witnessFrom, type WitnessDeps } from './witness.ts';

/** The log's name in its checkpoints: stable for an archive, saying nothing about its content. */
export function logOrigin(archiveRecipient: string): string {
  return `callvault.audit/${createHash('sha256').update(archiveRecipient).digest('hex').slice(0, 16)}`;
}

export function auditVerifierKey(origin: string, signingKey: KeyObject): string {
  return verifierKey(origin, createPublicKey(signingKey));
}

export interface Checkpointer {
  /**
   * Signs a checkpoint if the log grew since the last one, then copies every catalog checkpoint
   * the witness lacks; returns the new checkpoint, or null. A failed copy rejects with a
   * WitnessError once the catalog holds the checkpoint: the next call copies it.
   */
  checkpoint(): Promise<{ size: number; note: string } | null>;
}

export function createCheckpointer(deps: { db: Kysely<Database>; signingKey: KeyObject; origin: string; now?: () => number } & WitnessDeps): Checkpointer {
  const now = deps.now ?? Date.now;
  const witness = witnessFrom(deps);
  const tree = new TreeBuilder();
  let lastSeq = 0;
  // Every catalog checkpoint up to this size is in the witness; null until the witness was listed once.
  let witnessedThrough: number | null = null;
  let running: Promise<{ size: number; note: string } | null> | null = null;

  async function catchUp(): Promise<void> {
    for (;;) {
      const rows = await deps.db.selectFrom('audit_events').select(['seq', 'leaf_hash']).where('seq', '>', lastSeq).orderBy('seq').limit(50_000).execute();
      for (const r of rows) tree.append(Buffer.from(r.leaf_hash));
      if (rows.length > 0) lastSeq = rows[rows.length - 1]!.seq;
      if (rows.length < 50_000) return;
    }
  }

  async function sign(): Promise<{ size: number; note: string } | null> {
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
    return { size: tree.size, note };
  }

  /**
   * Copies the catalog checkpoints the witness lacks, oldest first. An unreachable witness stops
   * the round (the next one resumes there); a conflicting copy is reported once the rest are copied.
   */
  async function witnessMissing(): Promise<void> {
    const present = new Set(witnessedThrough === null ? await witness.sizes() : []);
    const conflicts: WitnessConflictError[] = [];
    for (;;) {
      const rows = await deps.db.selectFrom('audit_checkpoints').select(['size', 'note']).where('size', '>', witnessedThrough ?? 0).orderBy('size').limit(1000).execute();
      for (const r of rows) {
        if (!present.has(r.size)) {
          try {
            await witness.add(r.size, r.note);
          } catch (err) {
            // A different note there stays there (add-only): nothing more to do for this size.
            if (!(err instanceof WitnessConflictError)) throw err;
            conflicts.push(err);
          }
        }
        witnessedThrough = r.size;
      }
      if (rows.length < 1000) break;
    }
    witnessedThrough ??= 0;
    if (conflicts.length > 0) {
      throw conflicts.length === 1 ? conflicts[0] : new WitnessConflictError(`${conflicts[0]!.message}; and ${conflicts.length - 1} more sizes like it`);
    }
  }

  async function run(): Promise<{ size: number; note: string } | null> {
    const signed = await sign();
    await witnessMissing();
    return signed;
  }

  return {
    checkpoint() {
      // One at a time: a timer and a shutdown may ask together.
      running ??= run().finally(() => { running = null; });
      return running;
    },
  };
}
