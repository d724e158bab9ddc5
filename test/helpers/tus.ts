// Uploads through the real tus-js-client, as a call-center application would.
import * as tus from 'tus-js-client';
import { encodeUploadMetadata } from '../../src/simulate/metadata.ts';

export interface TusMeta {
  [key: string]: string;
}

export function tusUpload(url: string, key: string, data: Buffer, metadata: TusMeta, opts: { chunkSize?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint: `${url}/api/v1/uploads`,
      headers: { authorization: `Bearer ${key}` },
      metadata,
      chunkSize: opts.chunkSize ?? 256 * 1024,
      retryDelays: [],
      onError: reject,
      onSuccess: () => resolve(upload.url!),
    });
    upload.start();
  });
}

export function recordingIdOf(uploadUrl: string): string {
  const id = uploadUrl.split('/').pop()!;
  if (!/^[0-9a-f]{32}$/.test(id)) throw new Error(`upload URL does not end with a recording id: ${uploadUrl}`);
  return id;
}

// Raw tus requests, for tests where a header must be exactly so (or wrong on purpose).

export const OCTETS = 'application/offset+octet-stream';

/** Upload-Metadata: "key base64,key base64" (the encoder callvault's own load generator uses). */
export const metaHeader = (m: Record<string, string>): string => encodeUploadMetadata(m);

/** Tus-Resumable, and the API key as a bearer token unless `key` is null. */
export function tusHeaders(key: string | null, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(key === null ? {} : { authorization: `Bearer ${key}` }), 'tus-resumable': '1.0.0', ...extra };
}

export function tusCreate(url: string, key: string | null, headers: Record<string, string>, body?: Buffer): Promise<Response> {
  return fetch(`${url}/api/v1/uploads`, { method: 'POST', headers: tusHeaders(key, { ...(body ? { 'content-type': OCTETS } : {}), ...headers }), body });
}

export function tusPatch(url: string, key: string | null, id: string, offset: number | string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/v1/uploads/${id}`, { method: 'PATCH', body, headers: tusHeaders(key, { 'upload-offset': String(offset), 'content-type': OCTETS, ...headers }) });
}

export function tusHead(url: string, key: string | null, id: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/api/v1/uploads/${id}`, { method: 'HEAD', headers: tusHeaders(key, headers) });
}
