// A worker thread of `audit verify`: opens the catalog read-only on its own connection and
// re-hashes the chunks it is sent, one at a time (verify-chunk.ts), until it is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { openCatalogReader, type OpenCatalogOptions } from '../catalog/db.ts';
import { hashChunk, type ChunkTask } from './verify-chunk.ts';

const port = parentPort!;
const db = await openCatalogReader((workerData as { location: OpenCatalogOptions }).location);
// Chunks are sent ahead (the next waits while one is re-hashed): taken one after the other.
let queue: Promise<void> = Promise.resolve();
port.on('message', (task: ChunkTask) => {
  queue = queue.then(() => hashChunk(db, task)).then(
    (result) => port.postMessage({ result }),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
});
port.postMessage({ ready: true });
