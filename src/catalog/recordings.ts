// Recording rows: filing a sealed recording, finding it, listing a page.
import type { Kysely, Transaction } from 'kysely';
import type { Database, NewRecording, Recording } from './schema.ts';

export interface RecordingPage {
  items: Recording[];
  /** Opaque cursor for the next (older) page, or null at the end. */
  next: string | null;
}

export interface ListFilter {
  limit: number;
  cursor?: string;
  careUnit?: string;
  from?: number;
  to?: number;
  callerIndex?: Buffer;
}

export class CursorError extends Error {}

function encodeCursor(r: Recording): string {
  return Buffer.from(`${r.started_at}:${r.id}`).toString('base64url');
}

function decodeCursor(c: string): { startedAt: number; id: string } {
  const m = /^(\d{1,16}):([0-9a-f]{32})$/.exec(Buffer.from(c, 'base64url').toString());
  if (!m) throw new CursorError('the page cursor is not valid');
  return { startedAt: Number(m[1]), id: m[2]! };
}

export interface RecordingRepo {
  insert(row: NewRecording, trx?: Transaction<Database>): Promise<void>;
  get(id: string): Promise<Recording | undefined>;
  list(filter: ListFilter): Promise<RecordingPage>;
}

export function createRecordingRepo(db: Kysely<Database>): RecordingRepo {
  return {
    async insert(row, trx) {
      await (trx ?? db).insertInto('recordings').values(row).execute();
    },
    get(id) {
      return db.selectFrom('recordings').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async list(f) {
      let q = db.selectFrom('recordings').selectAll();
      if (f.careUnit) q = q.where('care_unit', '=', f.careUnit);
      if (f.from !== undefined) q = q.where('started_at', '>=', f.from);
      if (f.to !== undefined) q = q.where('started_at', '<', f.to);
      if (f.callerIndex) q = q.where('caller_index', '=', f.callerIndex);
      if (f.cursor) {
        const c = decodeCursor(f.cursor);
        q = q.where((eb) => eb.or([
          eb('started_at', '<', c.startedAt),
          eb.and([eb('started_at', '=', c.startedAt), eb('id', '<', c.id)]),
        ]));
      }
      const rows = await q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(f.limit + 1).execute();
      const items = rows.slice(0, f.limit);
      return { items, next: rows.length > f.limit ? encodeCursor(items[items.length - 1]!) : null };
    },
  };
}
