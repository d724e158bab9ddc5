// Export: the catalog's header and the store's payload, concatenated, are a standard age file
// that the stock `age -d -i IDENTITY` tool decrypts. The export is audited before it is written.
import { open } from 'node:fs/promises';
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
  await deps.audit.record({ action: 'recording.exported', actor, outcome: 'success', object: { type: 'recording', id }, careUnit: r.care_unit,
    patientPseudonym: pseudonymOfIndex(outsidePartyIndex(r)), details: { format: 'age' } });
  const fh = await open(outFile, 'wx', 0o600);
  let written = 0;
  try {
    await fh.write(r.header);
    written += r.header.length;
    for await (const piece of deps.store.stream(r.blob_key)) {
      await fh.write(piece);
      written += piece.length;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return written;
}
