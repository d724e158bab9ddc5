// Recovery at start: every upload that was in flight when the process stopped is filed up to
// its last durable byte, sealed with a proper final chunk, flagged and audited; and a client
// may later continue it (reopenFiled). Needs the archive identity: this is the one place on
// the ingest side that may open what was sealed, and only to finish sealing it.
import type { Kysely } from 'kysely';
import { CHUNK_SIZE, openRecording, payloadSize, resumeSeal, PAYLOAD_NONCE_SIZE } from '../seal/index.ts';
import type { AuditLog } from '../audit/log.ts';
import type { Actor } from '../audit/events.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import type { Database, UploadRow } from '../catalog/schema.ts';
import { outsidePartyIndex, pseudonymOfIndex } from '../catalog/blind-index.ts';
import { BlobNotFoundError, type BlobStore } from '../store/blob-store.ts';
import { AudioError, createAudioInspector, truncatedInfo, type AudioDeclaration, type AudioInfo, type AudioInspector } from './audio.ts';
import { ErasedMeanwhileError, fileRecording } from './filing.ts';
import { encodeRecord, RECORD, type IngestJournal, type JournalRecord } from './journal.ts';
import { JOURNAL_BASE, JOURNAL_DELTA, journalAad, type Live } from './uploads.ts';

const SYSTEM: Actor = { type: 'system', id: 'recovery' };

export interface RecoveryDeps {
  db: Kysely<Database>;
  recordings: RecordingRepo;
  store: BlobStore;
  audit: AuditLog;
  archiveIdentity: () => string;
  now?: () => number;
  /** Where failures that do not stop a recovery are reported (the server's log). */
  onError: (what: string, err: unknown) => void;
}

interface Trail {
  base: { offset: number; chunks: number; sealed: Buffer } | null;
  deltas: Array<{ offset: number; sealed: Buffer }>;
}

export interface RecoveryReport {
  recovered: Array<{ id: string; bytes: number; flags: string[] }>;
  dropped: string[];
  /** Uploads whose journal was damaged beyond filing: their row and ciphertext are kept. */
  kept: string[];
}

function declaration(u: UploadRow): AudioDeclaration {
  return { codec: u.codec as AudioDeclaration['codec'], sampleRate: u.sample_rate ?? undefined, channels: u.channels ?? undefined };
}

/**
 * Decrypts a filed recording once, feeding its plaintext to a fresh inspector; also returns its
 * size and the plaintext of its last chunk (what a continuation seals again as pending).
 */
async function inspectFiled(store: BlobStore, row: { id: string; header: Uint8Array; blob_key: string }, identity: string, decl: AudioDeclaration): Promise<{ inspector: AudioInspector; size: number; lastChunk: Buffer }> {
  const opened = openRecording({ header: Buffer.from(row.header), identity, recordingId: row.id });
  const inspector = createAudioInspector(decl);
  let size = 0;
  let lastChunk: Buffer = Buffer.alloc(0);
  try {
    const range = { payloadSize: await store.size(row.blob_key), start: 0, end: Infinity, read: (o: number, l: number) => store.read(row.blob_key, o, l) };
    // A range from 0 yields one piece per chunk, in order.
    for await (const piece of opened.readRange(range)) {
      size += piece.length;
      lastChunk = piece;
      try {
        inspector.feed(piece);
      } catch (err) {
        if (!(err instanceof AudioError)) throw err; // the inspector keeps the error for finish()
      }
    }
  } finally {
    opened.destroy();
  }
  return { inspector, size, lastChunk: Buffer.from(lastChunk) };
}

/** What recovery files: uploads left in flight, the journal records that cover them, and how each stopped. */
export interface RecoverySource {
  rows: UploadRow[];
  records: AsyncIterable<JournalRecord>;
  /** Whether the process receiving `u` stopped cleanly (interrupted) rather than crashed. */
  cleanShutdown: (u: UploadRow) => boolean;
}

/**
 * Files uploads left in flight (by this process's last run, or by a node that died). Run before
 * serving them again, and before the blob store's orphan sweep.
 */
export async function recoverUploads(deps: RecoveryDeps, source: RecoverySource): Promise<RecoveryReport> {
  const now = deps.now ?? Date.now;
  const { rows } = source;
  const report: RecoveryReport = { recovered: [], dropped: [], kept: [] };
  if (rows.length === 0) return report;
  const trails = new Map<string, Trail>(rows.map((r) => [r.id, { base: null, deltas: [] }]));
  for await (const r of source.records) {
    const t = trails.get(r.uploadId);
    if (!t) continue;
    if (r.type === RECORD.base) {
      t.base = { offset: r.offset, chunks: r.chunks, sealed: r.payload };
      t.deltas = t.deltas.filter((d) => d.offset >= r.offset);
    } else if (r.type === RECORD.delta) {
      t.deltas.push({ offset: r.offset, sealed: r.payload });
    }
  }
  const identity = deps.archiveIdentity();
  for (const u of rows) {
    const flag = source.cleanShutdown(u) ? 'interrupted_by_shutdown' : 'truncated_by_crash';
    const t = trails.get(u.id)!;
    const chunks = t.base?.chunks ?? 0;
    // The sealer continues right after the chunks known durable; `opened` opens the journal records.
    const sealer = resumeSeal({ header: Buffer.from(u.header), identity, recordingId: u.id, payloadPrefix: Buffer.from(u.payload_prefix), chunks, pending: Buffer.alloc(0) });
    const opened = openRecording({ header: Buffer.from(u.header), identity, recordingId: u.id });
    // A record opens only at the offset it was sealed for: records cannot be moved or swapped.
    const open = (label: string, sealed: Buffer, offset: number): Buffer => opened.openField(label, sealed, journalAad(offset));
    const tail: Buffer[] = [];
    let expected = chunks * CHUNK_SIZE;
    // A record that does not open (altered on disk) ends the call's tail there, flagged.
    let damaged = false;
    try {
      if (t.base) {
        tail.push(open(JOURNAL_BASE, t.base.sealed, t.base.offset));
        expected = t.base.offset;
      }
      for (const d of t.deltas.sort((a, b) => a.offset - b.offset)) {
        if (d.offset !== expected) continue; // already covered, or beyond a gap: never acknowledged
        const bytes = open(JOURNAL_DELTA, d.sealed, d.offset);
        tail.push(bytes);
        expected += bytes.length;
      }
    } catch {
      damaged = true;
      if (t.base && tail.length === 0) expected = chunks * CHUNK_SIZE; // the base itself failed: keep the stored chunks only
    }
    opened.destroy();
    const total = expected;
    if (damaged && tail.length === 0 && chunks > 0) {
      // The journal's base record for this call was altered: the stored chunks cannot be closed
      // with a valid final chunk without it. Keep everything as it is for an operator.
      sealer.destroy();
      await deps.audit.record({ action: 'ingest.rejected', actor: SYSTEM, outcome: 'failure', object: { type: 'upload', id: u.id }, careUnit: u.care_unit, details: { reason: 'journal damaged: kept for an operator, not filed' } });
      report.kept.push(u.id);
      continue;
    }
    if (total === 0) {
      // Nothing was ever acknowledged: there is no recording to keep.
      sealer.destroy();
      await deps.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('uploads').where('id', '=', u.id).execute();
        await deps.audit.record({ action: 'ingest.rejected', actor: SYSTEM, outcome: 'failure', object: { type: 'upload', id: u.id }, careUnit: u.care_unit, details: { reason: 'the process stopped before any byte was durable' } }, trx);
      });
      // On a shared store no sweep can tell its temporary from another node's: it goes here.
      await deps.store.discard(u.blob_key);
      report.dropped.push(u.id);
      continue;
    }
    // With chunks known durable, their object goes on; with none, nothing of it is relied on and
    // a fresh object is written (the old temporary goes with the orphan sweep).
    const writer = chunks > 0 ? await deps.store.reopen(u.blob_key, payloadSize(chunks * CHUNK_SIZE)) : await deps.store.create();
    if (chunks === 0) await writer.write(u.payload_prefix);
    const sealed = sealer.push(Buffer.concat(tail));
    if (sealed.length) await writer.write(sealed);
    await writer.write(sealer.finish());
    await writer.commit();
    if (writer.key !== u.blob_key) await deps.store.discard(u.blob_key);
    const complete = u.length !== null && total === u.length;
    const { inspector } = await inspectFiled(deps.store, { id: u.id, header: u.header, blob_key: writer.key }, identity, declaration(u));
    const flags = [...(complete ? [] : [flag]), ...(damaged ? ['journal_damaged'] : [])];
    let info: AudioInfo | null = null;
    if (complete) {
      try {
        info = inspector.finish();
      } catch (err) {
        if (!(err instanceof AudioError)) throw err;
        flags.push('audio_ended_early'); // as on the live path: kept as far as readable, never silently
      }
    }
    info ??= truncatedInfo(inspector);
    try {
      await fileRecording({ db: deps.db, recordings: deps.recordings, store: deps.store, audit: deps.audit, now, onError: deps.onError }, {
        upload: u, blobKey: writer.key, payloadSize: writer.size, plaintextSize: total, info, flags,
        action: 'ingest.recovered', actor: SYSTEM, requestId: null, source: null, details: { declaredLength: u.length },
      });
    } catch (err) {
      if (!(err instanceof ErasedMeanwhileError)) throw err;
      // The recording this call continued was erased: what recovery sealed goes too.
      await deps.store.delete(writer.key);
      report.dropped.push(u.id);
      continue;
    }
    report.recovered.push({ id: u.id, bytes: total, flags });
  }
  return report;
}

/**
 * Continues a recording that was filed early (crash or shutdown) when its client comes back:
 * a new temporary object with the stored chunks, the last chunk's plaintext pending again,
 * and the audio inspector brought up to date. The client sees one upload, one recording.
 */
export function createReopener(deps: RecoveryDeps & { journal: IngestJournal; nodeId?: string | null }) {
  const now = deps.now ?? Date.now;
  return async (id: string, keyId: string): Promise<Live | null> => {
    const r = await deps.recordings.get(id);
    if (!r || r.ingest_key_id !== keyId) return null;
    const flags = JSON.parse(r.flags) as string[];
    if (!flags.includes('truncated_by_crash') && !flags.includes('interrupted_by_shutdown')) return null;
    const identity = deps.archiveIdentity();
    const raw = r.container === 'raw';
    const decl: AudioDeclaration = { codec: raw ? (r.codec as 'pcmu' | 'pcma') : r.container === 'ogg' ? 'ogg-opus' : 'wav', sampleRate: raw ? r.sample_rate : undefined, channels: raw ? r.channels : undefined };
    /** Whether the recording is erased (or gone) now, as `q` (the catalog, or a transaction) sees it. */
    const erased = async (q: Kysely<Database>) => {
      const now = await q.selectFrom('recordings').select('erased_at').where('id', '=', id).executeTakeFirst();
      return now === undefined || now.erased_at !== null;
    };
    const writer = await deps.store.create();
    let inspector: AudioInspector, size: number, pending: Buffer, chunks: number, prefix: Buffer;
    try {
      ({ inspector, size, lastChunk: pending } = await inspectFiled(deps.store, r, identity, decl));
      chunks = size === 0 ? 0 : Math.floor((size - 1) / CHUNK_SIZE);
      prefix = await deps.store.read(r.blob_key, 0, PAYLOAD_NONCE_SIZE);
      for await (const piece of deps.store.stream(r.blob_key, 0, chunks > 0 ? payloadSize(chunks * CHUNK_SIZE) : PAYLOAD_NONCE_SIZE)) await writer.write(piece);
      await writer.flush();
    } catch (err) {
      await writer.abort();
      // Erased while it was being read (its object deleted): there is nothing to go on with.
      if (err instanceof BlobNotFoundError && await erased(deps.db)) return null;
      throw err;
    }
    const sealer = resumeSeal({ header: Buffer.from(r.header), identity, recordingId: id, payloadPrefix: prefix, chunks, pending });
    const actor: Actor = { type: 'api_key', id: keyId, role: 'key:ingest' };
    const row: UploadRow = {
      id, key_id: keyId, created_at: now(), length: r.upload_length ?? null, header: r.header, payload_prefix: prefix, blob_key: writer.key,
      codec: decl.codec, sample_rate: decl.sampleRate ?? null, channels: decl.channels ?? null, external_call_id: r.external_call_id,
      started_at: r.started_at, direction: r.direction, care_unit: r.care_unit, agent_id: r.agent_id, caller_sealed: r.caller_sealed,
      callee_sealed: r.callee_sealed, caller_index: r.caller_index, callee_index: r.callee_index, resumes_recording: 1,
      node_id: deps.nodeId ?? null, patient_index: r.patient_index,
    };
    // Reopening decrypts what was stored: it is audited, with the upload it becomes, in one transaction.
    const reopened = await deps.db.transaction().execute(async (trx) => {
      // An erasure commits before this (then nothing goes on) or after (then it ends this upload too).
      if (await erased(trx)) return false;
      await trx.insertInto('uploads').values(row).execute();
      await deps.audit.record({
        action: 'ingest.resumed', actor, outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
        patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), details: { offset: size },
      }, trx);
      return true;
    });
    if (!reopened) {
      sealer.destroy();
      await writer.abort();
      return null;
    }
    // A second crash must find this state: the copied chunks are durable, the tail goes in a base record.
    await deps.journal.append(encodeRecord({ type: RECORD.base, uploadId: id, offset: size, chunks, payload: sealer.sealField(JOURNAL_BASE, pending, journalAad(size)) }));
    return {
      row, length: row.length, offset: size, sealer, writer, inspector, chunksWritten: chunks, busy: false, abortBody: null,
      discarded: false, lastActivity: now(), actor, lock: Promise.resolve(),
    };
  };
}
