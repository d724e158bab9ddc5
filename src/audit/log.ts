// The audit log, plain append-only table for now (the catalog refuses updates and deletes).
// Rule: a change's event is written in the change's own transaction (pass `trx`); a read's
// event is awaited before the first byte of the answer leaves. A failed write throws, and
// the caller fails closed.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../catalog/schema.ts';
import { AUDIT_ACTIONS, type AuditEvent } from './events.ts';
import { entryLeafHash } from './entry.ts';

export class AuditUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the audit log cannot be written', { cause });
  }
}

export interface AuditLog {
  record(event: AuditEvent, trx?: Transaction<Database>): Promise<void>;
}

export function createAuditLog(db: Kysely<Database>, now: () => number = Date.now): AuditLog {
  return {
    async record(e, trx) {
      if (!(e.action in AUDIT_ACTIONS)) throw new Error(`unknown audit action ${e.action}`);
      try {
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
        await (trx ?? db).insertInto('audit_events').values({ ...row, leaf_hash: entryLeafHash(row) }).execute();
      } catch (err) {
        throw new AuditUnavailableError(err);
      }
    },
  };
}
