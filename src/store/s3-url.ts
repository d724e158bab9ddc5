// The blob store URL: s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&forcePathStyle=true.
// Credentials never travel in it: the AWS SDK reads them from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY (or its other standard sources). Messages name what is wrong without
// repeating the URL.
import { isLoopback } from '../lib/net.ts';

export interface S3Location {
  bucket: string;
  /** '' or a folder inside the bucket ending in '/'. */
  prefix: string;
  /** The S3-compatible service (MinIO, Ceph RGW, ...); absent: AWS S3 of `region`. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
}

export class BlobUrlError extends Error {}

// S3 bucket naming rules (the subset every S3-compatible server accepts).
const BUCKET = /^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_PART = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const REGION = /^[a-z0-9-]{1,40}$/;
const KNOWN = new Set(['endpoint', 'region', 'forcePathStyle']);

export function parseBlobUrl(value: string): S3Location {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new BlobUrlError('is not a URL; expected s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION');
  }
  if (u.protocol !== 's3:') throw new BlobUrlError('must start with s3:// (an S3-compatible bucket)');
  if (u.username || u.password) throw new BlobUrlError('must not carry credentials; give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  if (u.hash || value.includes('#')) throw new BlobUrlError('must not have a fragment');
  if (u.port) throw new BlobUrlError('names a bucket, not a server: give the server as ?endpoint=URL');
  if (!BUCKET.test(u.hostname)) throw new BlobUrlError('must name a bucket: 3 to 63 lowercase letters, digits, dots and hyphens');
  const parts = u.pathname.split('/').filter((p) => p !== '');
  if (parts.some((p) => !PREFIX_PART.test(p))) throw new BlobUrlError('has a prefix with characters other than letters, digits, ".", "_", "-" and "/"');
  for (const k of u.searchParams.keys()) {
    if (!KNOWN.has(k)) throw new BlobUrlError(`has an unknown setting "${k.replace(/[^\w-]/g, '?').slice(0, 40)}" (known: ${[...KNOWN].join(', ')})`);
  }
  const region = u.searchParams.get('region') ?? 'us-east-1';
  if (!REGION.test(region)) throw new BlobUrlError('has a region that is not a region name, e.g. eu-north-1');
  const style = u.searchParams.get('forcePathStyle') ?? 'false';
  if (style !== 'true' && style !== 'false') throw new BlobUrlError('has forcePathStyle other than true or false');
  const location: S3Location = { bucket: u.hostname, prefix: parts.map((p) => `${p}/`).join(''), region, forcePathStyle: style === 'true' };
  const endpoint = u.searchParams.get('endpoint');
  if (endpoint !== null) location.endpoint = checkEndpoint(endpoint);
  return location;
}

function checkEndpoint(value: string): string {
  let e: URL;
  try {
    e = new URL(value);
  } catch {
    throw new BlobUrlError('has an endpoint that is not a URL');
  }
  // Plain http only on loopback (a test or a local server): elsewhere the ciphertext would still be
  // safe, but the request signatures and object names would travel in the clear.
  if (e.protocol !== 'https:' && !(e.protocol === 'http:' && isLoopback(e.hostname))) {
    throw new BlobUrlError('has an endpoint that must be https (http is accepted only on loopback)');
  }
  if (e.username || e.password) throw new BlobUrlError('has an endpoint carrying credentials; give them as AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  if (e.search || e.hash || (e.pathname !== '/' && e.pathname !== '')) throw new BlobUrlError('has an endpoint with a path or query; give the server only, e.g. https://minio.internal:9000');
  return e.origin;
}

/** Where the objects are, for messages: bucket and prefix, never the endpoint's details or credentials. */
export function describeLocation(l: S3Location): string {
  return `s3://${l.bucket}/${l.prefix}`;
}
