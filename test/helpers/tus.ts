// Uploads through the real tus-js-client, as a call-center application would.
import * as tus from 'tus-js-client';

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
