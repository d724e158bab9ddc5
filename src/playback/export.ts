// Export: the catalog's header and the store's payload, concatenated, are a standard age file
// that the stock `age -d -i IDENTITY` tool decrypts. The export is audited before it is written,
// and written whole or not at all.
import { rm } from 'node:fs/promises';
import { NewFileError, openNewFile, writeAll, writeFailure } from '../lib/new-file.ts';
import type { Actor } from '../audit/events.ts';
import type { AuditLog } from '../audit/log.ts';
import type { RecordingRepo } from '../catalog/recordings.ts';
import { outsidePartyIndex, pseudonymOfIndex } from '../catalog/blind-index.ts';
import { BlobNotFoundError, type BlobStore } from '../store/blob-store.ts';

export class ExportError extends Error {}

export async function exportRecording(
  deps: { recordings: RecordingRepo; store: BlobStore; audit: AuditLog },
  id: string, outFile: string, actor: Actor,
): Promise<number> {
  const r = await deps.recordings.get(id);
  if (!r) throw new ExportError(`no recording ${id}`);
  if (r.erased_at !== null) throw new ExportError(`recording ${id} was erased: its audio is gone`);
  const payloadSize = await deps.store.size(r.blob_key).catch((e: unknown) => {
    if (e instanceof BlobNotFoundError) throw new ExportError(`recording ${id}: its audio object is missing from the blob store; check that this is the archive's blob store (--blob-url)`);
    throw e;
  });
  if (payloadSize !== r.payload_size) throw new ExportError(`recording ${id}: stored payload is ${payloadSize} bytes, the catalog expects ${r.payload_size}`);
  // The file is made first: an export that cannot be written is refused before it is audited.
  const fh = await openNewFile(outFile).catch((e: unknown) => {
    throw e instanceof NewFileError ? new ExportError(e.message) : e;
  });
  const event = { action: 'recording.exported', actor, object: { type: 'recording', id }, careUnit: r.care_unit,
    patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)) } as const;
  let whole = false;
  let written = 0;
  try {
    // Audited before the first byte of the recording is written.
    await deps.audit.record({ ...event, outcome: 'success', details: { format: 'age' } });
    try {
      await writeAll(fh, r.header);
      written += r.header.length;
      for await (const piece of deps.store.stream(r.blob_key)) {
        await writeAll(fh, piece);
        written += piece.length;
      }
      await fh.sync();
      const { size } = await fh.stat();
      if (size !== written) throw new NewFileError(`${size} bytes are in the file, ${written} were written`);
    } catch (e) {
      // The log says the export did not happen after all.
      await deps.audit.record({ ...event, outcome: 'failure', details: { format: 'age', error: writeFailure(e) } });
      throw new ExportError(`cannot write ${outFile}: ${writeFailure(e)}; the part written was removed`);
    }
    whole = true;
  } finally {
    await fh.close();
    // Nothing is left that could pass for the export.
    if (!whole) await rm(outFile, { force: true });
  }
  return written;
}
