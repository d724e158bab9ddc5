// The tus 1.0 endpoint (core + creation) at /api/v1/uploads, for ingest API keys.
import { z } from 'zod';
import { HttpError } from '../http/errors.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { parseUploadMetadata } from './metadata.ts';
import type { UploadService } from './uploads.ts';

export const TUS_VERSION = '1.0.0';
const OCTETS = 'application/offset+octet-stream';
const idParams = z.object({ id: z.string().regex(/^[0-9a-f]{32}$/, 'not an upload id') });

function requireTus(headers: Record<string, string | string[] | undefined>): void {
  if (headers['tus-resumable'] !== TUS_VERSION) {
    throw new HttpError(412, `this server speaks tus ${TUS_VERSION}; send Tus-Resumable: ${TUS_VERSION}`, { 'tus-version': TUS_VERSION });
  }
}

function nonNegativeInt(value: unknown, name: string): number {
  if (typeof value !== 'string' || !/^\d{1,16}$/.test(value)) throw new HttpError(400, `${name} must be a non-negative integer`);
  return Number(value);
}

function keyIdOf(p: { kind: string; keyId?: string }): string {
  if (p.kind !== 'api_key' || !p.keyId) throw new HttpError(403, 'uploads need an ingest API key');
  return p.keyId;
}

export function uploadRoutes(uploads: UploadService): RouteDef[] {
  const policy = { permission: 'ingest:write' } as const;
  const headers = { 'tus-resumable': TUS_VERSION };
  return [
    defineRoute({
      method: 'OPTIONS', url: '/api/v1/uploads', policy, headers, tag: 'ingest',
      summary: 'tus discovery: version, extensions and maximum size',
      responses: { 204: 'capabilities in Tus-* headers' },
      async handler({ reply }) {
        reply.code(204).headers({ 'tus-resumable': TUS_VERSION, 'tus-version': TUS_VERSION, 'tus-extension': 'creation', 'tus-max-size': String(uploads.maxUploadBytes) });
        return reply.send();
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/uploads', policy, headers, tag: 'ingest',
      summary: 'tus creation: start the upload of a finished recording (WAV), described by Upload-Metadata',
      rawBody: { contentType: OCTETS },
      responses: { 201: 'created; Location ends with the recording id', 400: 'bad Upload-Length or Upload-Metadata', 412: 'wrong Tus-Resumable', 413: 'too large' },
      async handler({ req, reply, principal, requestId, source }) {
        requireTus(req.headers);
        if (req.headers['upload-defer-length'] !== undefined) throw new HttpError(400, 'Upload-Defer-Length is not supported here: send Upload-Length');
        const length = nonNegativeInt(req.headers['upload-length'], 'Upload-Length');
        if (Number(req.headers['content-length'] ?? 0) > 0) throw new HttpError(400, 'send the audio with PATCH after creation (creation-with-upload is not supported)');
        const meta = parseUploadMetadata(req.headers['upload-metadata'] as string | undefined);
        const id = await uploads.create({ keyId: keyIdOf(principal), length, meta, requestId, source });
        reply.code(201).headers({ 'tus-resumable': TUS_VERSION, location: `/api/v1/uploads/${id}`, 'upload-offset': '0' });
        return reply.send();
      },
    }),
    defineRoute({
      method: 'HEAD', url: '/api/v1/uploads/:id', policy, headers, tag: 'ingest', params: idParams,
      summary: 'tus core: how many bytes of this upload the server holds',
      responses: { 200: 'Upload-Offset and Upload-Length headers', 404: 'no such upload for this key' },
      async handler({ req, reply, principal, params }) {
        requireTus(req.headers);
        const st = await uploads.status(params.id, keyIdOf(principal));
        if (!st) throw new HttpError(404, 'no such upload');
        reply.code(200).headers({ 'tus-resumable': TUS_VERSION, 'upload-offset': String(st.offset), 'upload-length': String(st.length), 'cache-control': 'no-store' });
        return reply.send();
      },
    }),
    defineRoute({
      method: 'PATCH', url: '/api/v1/uploads/:id', policy, headers, tag: 'ingest', params: idParams,
      rawBody: { contentType: OCTETS },
      summary: 'tus core: append bytes at Upload-Offset; the last byte seals and files the recording',
      responses: { 204: 'appended; new Upload-Offset', 409: 'offset mismatch', 413: 'beyond Upload-Length', 415: 'wrong content type or not a supported WAV' },
      async handler({ req, reply, principal, params, requestId, source }) {
        requireTus(req.headers);
        if (req.headers['content-type'] !== OCTETS) throw new HttpError(415, `Content-Type must be ${OCTETS}`);
        const offset = nonNegativeInt(req.headers['upload-offset'], 'Upload-Offset');
        const newOffset = await uploads.append({
          id: params.id, keyId: keyIdOf(principal), offset, body: req.raw, abort: () => req.raw.destroy(), requestId, source,
        });
        reply.code(204).headers({ 'tus-resumable': TUS_VERSION, 'upload-offset': String(newOffset) });
        return reply.send();
      },
    }),
  ];
}
