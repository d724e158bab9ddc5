// One S3 client per location, opened only once its bucket answers: the blob store and the audit
// witness both open theirs here, so both talk to S3 the same way (our retries, not the SDK's;
// credentials from the SDK's standard sources unless given; no ACL ever sent).
import { HeadBucketCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { describeFailure, statusOf, withRetry, type RetryPolicy } from './s3-retry.ts';
import { describeLocation, type S3Location } from './s3-url.ts';

export interface S3ClientOptions extends S3Location {
  /** Credentials; absent: the AWS SDK's standard sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY first). */
  credentials?: S3ClientConfig['credentials'];
  /** A request whose connection carries nothing for this long fails (default 60 s; shorter in tests). */
  idleTimeoutMs?: number;
}

/** Whether an S3 failure says the object (or key) is not there. */
export const isNotFound = (err: unknown) => statusOf(err) === 404 || ['NoSuchKey', 'NotFound'].includes((err as Error)?.name);

/**
 * A client for the location's bucket, once a bucket check (retried under `policy`) has passed.
 * A bucket that cannot be used is an Error naming it and why, never the SDK's text (which can
 * name the endpoint).
 */
export async function openS3Client(opts: S3ClientOptions, policy: RetryPolicy): Promise<S3Client> {
  const client = new S3Client({
    region: opts.region,
    forcePathStyle: opts.forcePathStyle,
    ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    maxAttempts: 1, // retries are ours (s3-retry.ts), with each caller's outage rules
    // A store that takes the connection and then says nothing fails the request once it has
    // been idle a minute, and is retried as an outage: the SDK's requestTimeout only warns, so a
    // request could otherwise wait for ever (and a migrate hold the archive meanwhile). Idle, not
    // whole: a long transfer that keeps moving is not cut.
    requestHandler: { connectionTimeout: 5_000, requestTimeout: 60_000, socketTimeout: opts.idleTimeoutMs ?? 60_000 },
  });
  try {
    await withRetry('a bucket check', policy, () => client.send(new HeadBucketCommand({ Bucket: opts.bucket })));
  } catch (err) {
    client.destroy();
    const status = statusOf(err);
    const why = status === 404 ? 'does not exist' : status === 403 || status === 401 ? 'refuses these credentials' : `cannot be reached (${describeFailure(err)})`;
    throw new Error(`the S3 bucket ${describeLocation(opts)} ${why}`, { cause: err });
  }
  return client;
}
