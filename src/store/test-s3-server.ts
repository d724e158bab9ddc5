// A real S3-compatible server for tests: @20minutes/s3rver (a maintained fork of s3rver) on
// 127.0.0.1, keeping its objects in a temporary directory. A test server, never for production:
// it checks access key ids, not part sizes, and has no ListParts, ListMultipartUploads or
// AbortMultipartUpload, none of which the S3 blob store needs. Its signature check is off: it
// signs bucket-level requests (HeadBucket, ListObjectsV2) without the trailing slash that the
// AWS SDK v3 sends and signs, so every such request would fail as SignatureDoesNotMatch.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from '@20minutes/s3rver';

export const TEST_BUCKET = 'callvault-test';
/** s3rver's fixed test credentials. */
export const TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestS3 {
  endpoint: string;
  port: number;
  directory: string;
  /** Stops answering (connections are reset, as by a store that is down), keeping every object and the port. */
  stop(): Promise<void>;
  /** Answers again on the same port, from the same objects. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The environment a callvault process (or this one) needs to use the test server: its credentials, no cloud lookups. */
export const TEST_S3_ENV = { AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true' } as const;

/** An s3:// blob URL for `prefix` in the test bucket of `s3`. */
export const testBucketUrl = (s3: { endpoint: string }, prefix: string) => `s3://${TEST_BUCKET}/${prefix}?endpoint=${encodeURIComponent(s3.endpoint)}&forcePathStyle=true`;

export async function startTestS3(): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 'cv-s3-'));
  let server: S3rver | null = null;
  // While the store is away, its port stays held here (each connection reset): another process
  // could otherwise take it meanwhile (an outgoing connection's port, say), and the store could
  // not come back on it.
  let holder: Server | null = null;
  let port = 0;
  const start = async () => {
    if (server) return; // answering already
    if (holder) {
      const h = holder;
      holder = null;
      await new Promise<void>((resolve) => h.close(() => resolve()));
    }
    const s = new S3rver({ address: '127.0.0.1', port, directory, silent: true, allowMismatchedSignatures: true, configureBuckets: [{ name: TEST_BUCKET }] });
    port = (await s.run()).port;
    server = s;
  };
  const stop = async () => {
    const s = server;
    server = null;
    if (!s) return;
    await s.close();
    const h = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve, reject) => {
      h.once('error', reject);
      h.listen(port, '127.0.0.1', () => resolve());
    });
    holder = h;
  };
  await start();
  return {
    endpoint: `http://127.0.0.1:${port}`, port, directory, start, stop,
    async close() {
      await stop();
      const h = holder;
      holder = null;
      if (h) await new Promise<void>((resolve) => h.close(() => resolve()));
      await rm(directory, { recursive: true, force: true });
    },
  };
}
