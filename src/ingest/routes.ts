// The tus 1.0 endpoint at /api/v1/uploads, for ingest API keys: core, creation,
// creation-with-upload, creation-defer-length, checksum (sha256), termination, expiration.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { HttpError } from '../http/errors.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { parseUploadMetadata } from './metadata.ts';
import type { UploadService } from './uploads.ts';

export const TUS_VERSION = '1.0.0';
export const TUS_EXTENSIONS = 'creation,creation-with-upload,creation-defer-length,checksum,termination,expiration';
const OCTETS = 'application/offset+octet-stream';
const CHECKSUM_LIMIT = 64 * 1024 * 1024;
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

/** The body's size where the request declares it. */
function declaredBodyBytes(headers: Record<string, string | string[] | undefined>): number | undefined {
  const v = headers['content-length'];
  return v === undefined ? undefined : nonNegativeInt(v, 'Content-Length');
}

function keyIdOf(p: { kind: string; keyId?: string }): string {
  if (p.kind !== 'api_key' || !p.keyId) throw new HttpError(403, 'uploads need an ingest API key');
  return p.keyId;
}

/** Upload-Checksum: "sha256 <base64 digest>"; the body is verified before any byte is applied. */
async function checkedBody(header: string | undefined, body: AsyncIterable<Buffer>): Promise<AsyncIterable<Buffer>> {
  if (header === undefined) return body;
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(header);
  if (!m) throw new HttpError(400, 'Upload-Checksum must read "sha256 <base64 digest>"');
  if (m[1] !== 'sha256') throw new HttpError(400, `checksum algorithm ${m[1]!.slice(0, 16)} is not supported; use sha256`);
  const parts: Buffer[] = [];
  let n = 0;
  for await (const p of body) {
    n += p.length;
    if (n > CHECKSUM_LIMIT) throw new HttpError(413, `a PATCH with Upload-Checksum may carry at most ${CHECKSUM_LIMIT} bytes`);
    parts.push(p);
  }
  const all = Buffer.concat(parts);
  if (createHash('sha256').update(all).digest('base64') !== m[2]) throw new HttpError(460, 'checksum mismatch: the body was discarded; send it again');
  return (async function* () { yield all; })();
}

const httpDate = (ms: number) => new Date(ms).toUTCString();

export function uploadRoutes(uploads: UploadService): RouteDef[] {
  const policy = { permission: 'ingest:write' } as const;
  const headers = { 'tus-resumable': TUS_VERSION };
  return [
    defineRoute({
      method: 'OPTIONS', url: '/api/v1/uploads', policy, headers, tag: 'ingest',
      summary: 'tus discovery: version, extensions, checksum algorithms and maximum size',
      responses: { 204: 'capabilities in Tus-* headers' },
      async handler({ reply }) {
        reply.code(204).headers({ 'tus-version': TUS_VERSION, 'tus-extension': TUS_EXTENSIONS, 'tus-max-size': String(uploads.maxUploadBytes), 'tus-checksum-algorithm': 'sha256' });
        return reply.send();
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/uploads', policy, headers, tag: 'ingest',
      summary: 'tus creation: start a recording (Upload-Length, or Upload-Defer-Length: 1 for a live call), described by Upload-Metadata; may carry the first bytes',
      rawBody: { contentType: OCTETS },
      responses: { 201: 'created; Location ends with the recording id', 400: 'bad Upload-Length or Upload-Metadata', 412: 'wrong Tus-Resumable', 413: 'too large', 460: 'checksum mismatch' },
      async handler({ req, reply, principal, requestId, source }) {
        requireTus(req.headers);
        const deferred = req.headers['upload-defer-length'];
        const lengthHeader = req.headers['upload-length'];
        if (deferred !== undefined && deferred !== '1') throw new HttpError(400, 'Upload-Defer-Length must be 1');
        if ((deferred === undefined) === (lengthHeader === undefined)) throw new HttpError(400, 'send exactly one of Upload-Length and Upload-Defer-Length: 1');
        const length = lengthHeader === undefined ? null : nonNegativeInt(lengthHeader, 'Upload-Length');
        if (length === 0) throw new HttpError(400, 'Upload-Length is 0: a recording needs audio');
        const meta = parseUploadMetadata(req.headers['upload-metadata'] as string | undefined);
        const keyId = keyIdOf(principal);
        const bodyBytes = declaredBodyBytes(req.headers);
        const withBody = (bodyBytes ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
        if (withBody && req.headers['content-type'] !== OCTETS) throw new HttpError(415, `data sent with creation must be ${OCTETS}`);
        if (length !== null && bodyBytes !== undefined && bodyBytes > length) throw new HttpError(413, `the body (${bodyBytes} bytes) is longer than Upload-Length (${length})`);
        const body = withBody ? await checkedBody(req.headers['upload-checksum'] as string | undefined, req.raw) : null;
        const id = await uploads.create({ keyId, length, meta, requestId, source });
        let offset = 0;
        if (body) offset = await uploads.append({ id, keyId, offset: 0, body, abort: () => req.raw.destroy(), requestId, source });
        const expires = uploads.expiresAt(id);
        reply.code(201).headers({ location: `/api/v1/uploads/${id}`, 'upload-offset': String(offset), ...(expires ? { 'upload-expires': httpDate(expires) } : {}) });
        return reply.send();
      },
    }),
    defineRoute({
      method: 'HEAD', url: '/api/v1/uploads/:id', policy, headers, tag: 'ingest', params: idParams,
      summary: 'tus core: how many bytes of this upload are durable (and its length, or that it is deferred)',
      responses: { 200: 'Upload-Offset, Upload-Length or Upload-Defer-Length, Upload-Expires', 404: 'no such upload for this key' },
      async handler({ req, reply, principal, params }) {
        requireTus(req.headers);
        const st = await uploads.status(params.id, keyIdOf(principal));
        if (!st) throw new HttpError(404, 'no such upload');
        reply.code(200).headers({
          'upload-offset': String(st.offset), 'cache-control': 'no-store',
          ...(st.length === null ? { 'upload-defer-length': '1' } : { 'upload-length': String(st.length) }),
          ...(st.expiresAt ? { 'upload-expires': httpDate(st.expiresAt) } : {}),
        });
        return reply.send();
      },
    }),
    defineRoute({
      method: 'PATCH', url: '/api/v1/uploads/:id', policy, headers, tag: 'ingest', params: idParams,
      rawBody: { contentType: OCTETS },
      summary: 'tus core: append bytes at Upload-Offset (answered once durable); Upload-Length may be given once; the last byte files the recording',
      responses: { 204: 'appended and durable; new Upload-Offset', 409: 'offset mismatch', 413: 'beyond Upload-Length or the maximum size (nothing of it applied past the offset it gives)', 415: 'wrong content type or unsupported audio', 460: 'checksum mismatch' },
      async handler({ req, reply, principal, params, requestId, source }) {
        requireTus(req.headers);
        if (req.headers['content-type'] !== OCTETS) throw new HttpError(415, `Content-Type must be ${OCTETS}`);
        const offset = nonNegativeInt(req.headers['upload-offset'], 'Upload-Offset');
        const length = req.headers['upload-length'] === undefined ? undefined : nonNegativeInt(req.headers['upload-length'], 'Upload-Length');
        const keyId = keyIdOf(principal);
        const body = await checkedBody(req.headers['upload-checksum'] as string | undefined, req.raw);
        const bodyBytes = declaredBodyBytes(req.headers);
        const newOffset = await uploads.append({ id: params.id, keyId, offset, length, body, bodyBytes, abort: () => req.raw.destroy(), requestId, source });
        const expires = uploads.expiresAt(params.id);
        reply.code(204).headers({ 'upload-offset': String(newOffset), ...(expires ? { 'upload-expires': httpDate(expires) } : {}) });
        return reply.send();
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/v1/uploads/:id', policy, headers, tag: 'ingest', params: idParams,
      summary: 'tus termination: abandon an upload in flight; nothing is filed',
      responses: { 204: 'terminated', 404: 'no such upload in flight for this key' },
      async handler({ req, principal, params, requestId, source }) {
        requireTus(req.headers);
        if (!(await uploads.terminate(params.id, keyIdOf(principal), requestId, source))) throw new HttpError(404, 'no such upload in flight');
      },
    }),
  ];
}
