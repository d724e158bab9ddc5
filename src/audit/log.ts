// The audit log: an append-only table (the catalog refuses updates and deletes) whose entries
// are the leaves of a Merkle tree (entry.ts, checkpointer.ts).
// Rule: a change's event is written in the change's own transaction (pass `trx`); a read's
// event is durable before the first byte of the answer leaves. Reads' events are group-committed:
// those that arrive together are written in one transaction (one fsync). A failed write
// rejects every waiting event, and their callers fail closed.
import type { Insertable, Kysely, Transaction } from 'kysely';
import { sqliteDriverOf } from '../catalog/db.ts';
import type { AuditEventTable, Database } from '../catalog/schema.ts';
import { CatalogInputError, hasNul } from '../catalog/text-guard.ts';
import { AUDIT_ACTIONS, type AuditEvent } from './events.ts';
import { entryLeafHash } from './entry.ts';

export class AuditUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the audit log cannot be written', { cause });
  }
}

export interface AuditLog {
  record(event: AuditEvent, trx?: Transaction<Database>): Promise<void>;
  /** Several events in the caller's transaction, in order, written together (a job's batch). */
  recordMany(events: readonly AuditEvent[], trx: Transaction<Database>): Promise<void>;
  /** Calls `fn` with each event once it is written (alert rules). */
  observe(fn: (e: AuditEvent, at: number) => void): void;
}

type Row = Insertable<AuditEventTable>;
const ROWS_PER_INSERT = 500; // 14 columns: well inside SQLite's bound-parameter limit
const COLUMNS = ['at', 'actor_type', 'actor_id', 'action', 'object_type', 'object_id', 'care_unit', 'patient_pseudonym', 'outcome', 'request_id', 'source', 'details', 'leaf_hash'] as const;

export function createAuditLog(db: Kysely<Database>, now: () => number = Date.now): AuditLog {
  let pending: Array<{ row: Row; resolve: () => void; reject: (e: Error) => void }> = [];
  let scheduled = false;
  const observers: Array<(e: AuditEvent, at: number) => void> = [];
  const notify = (e: AuditEvent, at: number) => {
    for (const fn of observers) {
      try {
        fn(e, at);
      } catch {
        // an observer never breaks the audit path
      }
    }
  };

  // On SQLite, a batch is bound row by row to one prepared statement inside Kysely's
  // transaction (which holds the connection): building and preparing a statement of hundreds of
  // rows cost more than SQLite's own work. Rows were checked for NUL by rowOf, as the plugin would.
  const sqlite = sqliteDriverOf(db);
  let insertOne: ReturnType<NonNullable<typeof sqlite>['prepare']> | undefined;
  const insertBatch = async (t: Transaction<Database>, rows: Row[]) => {
    if (sqlite) {
      insertOne ??= sqlite.prepare(`INSERT INTO audit_events (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
      for (const row of rows) insertOne.run(COLUMNS.map((c) => row[c] ?? null));
      return;
    }
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) await t.insertInto('audit_events').values(rows.slice(i, i + ROWS_PER_INSERT)).execute();
  };

  async function flush(): Promise<void> {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        await db.transaction().execute((t) => insertBatch(t, batch.map((b) => b.row)));
        for (const b of batch) b.resolve();
      } catch (err) {
        const e = new AuditUnavailableError(err);
        for (const b of batch) b.reject(e);
      }
    }
    scheduled = false;
  }

  function rowOf(e: AuditEvent): Row {
    const row = {
      at: now(),
      actor_type: e.actor.type,
      actor_id: e.actor.id,
      action: e.action,
      object_type: e.object?.type ?? null,
      object_id: e.object?.id ?? null,
      care_unit: e.careUnit ?? null,
      patient_pseudonym: e.patientPseudonym ?? null,
      outcome: e.outcome,
      request_id: e.requestId ?? null,
      source: e.source ?? null,
      details: e.details ? JSON.stringify({ role: e.actor.role ?? undefined, ...e.details }) : (e.actor.role ? JSON.stringify({ role: e.actor.role }) : null),
    };
    // One event that the catalog cannot hold is refused alone, never failing the batch it would join.
    if (Object.values(row).some(hasNul)) throw new CatalogInputError();
    return { ...row, leaf_hash: entryLeafHash(row) };
  }

  /** Events in the caller's transaction: written with it, in order, in one batch. */
  async function recordMany(events: readonly AuditEvent[], trx: Transaction<Database>): Promise<void> {
    const unknown = events.find((e) => !(e.action in AUDIT_ACTIONS));
    if (unknown) throw new Error(`unknown audit action ${unknown.action}`);
    const rows = events.map(rowOf);
    try {
      await insertBatch(trx, rows);
    } catch (err) {
      throw new AuditUnavailableError(err);
    }
    events.forEach((e, i) => notify(e, rows[i]!.at));
  }

  return {
    async record(e, trx) {
      if (!(e.action in AUDIT_ACTIONS)) throw new Error(`unknown audit action ${e.action}`);
      if (trx) return recordMany([e], trx);
      const row = rowOf(e);
      await new Promise<void>((resolve, reject) => {
        pending.push({ row, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => void flush());
        }
      });
      notify(e, row.at);
    },
    recordMany,
    observe(fn) {
      observers.push(fn);
    },
  };
}
