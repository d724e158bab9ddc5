// /api/v1/recordings: list and search, metadata, audio with HTTP Range.
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { isoInstant } from '../lib/iso-time.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { RECORDING_FLAGS } from '../catalog/recordings.ts';
import { parseRange } from './range.ts';
import { BlobNotFoundError } from '../store/blob-store.ts';
import type { Playback } from './service.ts';
import { ERASURE_BASES, type Erasure } from './erasure.ts';
import type { BreakGlassService } from '../access/break-glass.ts';
import { accountCall } from '../access/routes.ts';
import { HttpError } from '../http/errors.ts';

const idParams = z.object({ id: z.string().regex(/^[0-9a-f]{32}$/, 'not a recording id') });

// The search filters, in a query string (GET) or a JSON body (POST). A phone number is never
// taken from a URL (proxies and access logs keep query strings): search by number with POST.
const filters = {
  cursor: z.string().max(200).optional(),
  careUnit: z.string().max(64).optional(),
  from: isoInstant.optional(),
  to: isoInstant.optional(),
  agent: z.string().max(64).optional(),
  /** The PBX's or call-center app's own id of the call (metadata callId at ingest). */
  callId: z.string().min(1).max(128).optional(),
  direction: z.enum(['inbound', 'outbound']).optional(),
  flag: z.enum(RECORDING_FLAGS).optional(),
};
const listQuery = z.strictObject({
  ...filters,
  limit: z.coerce.number().int().min(1).max(200).default(50),
  minDurationMs: z.coerce.number().int().min(0).optional(),
  maxDurationMs: z.coerce.number().int().min(0).optional(),
  // Accepted only to be refused with an answer that says what to do instead.
  caller: z.unknown().optional(),
  callee: z.unknown().optional(),
});
const searchBody = z.strictObject({
  ...filters,
  limit: z.number().int().min(1).max(200).default(50),
  minDurationMs: z.number().int().min(0).optional(),
  maxDurationMs: z.number().int().min(0).optional(),
  caller: z.string().max(40).optional(),
});
const NUMBER_IN_URL = 'phone numbers never go in a URL: search by caller with POST /api/v1/recordings/search and the filters in a JSON body';
const perDayQuery = z.strictObject({ from: isoInstant, to: isoInstant, careUnit: z.string().max(64).optional() });
const waveformQuery = z.strictObject({ points: z.coerce.number().int().min(10).max(4000).default(800) });

const exportBody = z.strictObject({ recipient: z.string().min(1).max(200) });
const breakGlassBody = z.strictObject({ reason: z.string().max(1000) });
const holdBody = z.strictObject({ hold: z.boolean() });
const eraseBody = z.strictObject({ basis: z.enum(ERASURE_BASES) });

/**
 * A recording's bytes as a stream. A failure mid-way cuts the connection (the headers are gone),
 * logged as what it is: a chunk that failed verification, or an erasure that happened meanwhile.
 */
function audioStream(req: FastifyRequest, id: string, body: AsyncGenerator<Buffer>): Readable {
  const stream = Readable.from(body, { objectMode: false });
  stream.on('error', (err) => {
    if (err instanceof BlobNotFoundError) req.log.info({ reqId: req.id, recording: id }, 'playback stopped: the recording was erased while it played');
    else req.log.error({ reqId: req.id, recording: id, err: { name: err.name, code: (err as { code?: string }).code } }, 'playback stopped: the recording failed verification');
    req.raw.destroy();
  });
  return stream;
}

/** A whole file to keep, streamed. */
function sendAttachment(req: FastifyRequest, reply: FastifyReply, id: string, f: { size: number; body: AsyncGenerator<Buffer>; fileName: string; contentType: string }) {
  reply.code(200).headers({ 'content-type': f.contentType, 'content-length': String(f.size), 'content-disposition': `attachment; filename="${f.fileName}"` });
  return reply.send(audioStream(req, id, f.body));
}

export function recordingRoutes(playback: Playback, breakGlass: BreakGlassService, erasure: Erasure): RouteDef[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/v1/recordings', policy: { permission: 'recordings:list' }, tag: 'recordings', query: listQuery,
      summary: 'List the recordings in your scope, newest first (keyset paging with `cursor`); filters: careUnit, from, to, agent, callId, direction, minDurationMs, maxDurationMs, flag (by caller number: POST /api/v1/recordings/search)',
      responses: { 200: '{ items, next, count: { value, capped } } (count on the first page only, capped at 10,000)', 400: 'bad filter, or a caller or callee number in the URL (code number_in_url)' },
      handler: ({ principal, query, requestId, source }) => {
        const { caller, callee, ...q } = query;
        if (caller !== undefined || callee !== undefined) throw new HttpError(400, NUMBER_IN_URL, {}, 'number_in_url');
        return playback.list(principal, q, { requestId, source });
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/recordings/search', policy: { permission: 'recordings:list' }, tag: 'recordings', body: searchBody,
      summary: 'Search the recordings in your scope, as GET /api/v1/recordings, with the filters in a JSON body: careUnit, from, to, caller, agent, callId, direction, minDurationMs, maxDurationMs, flag, limit, cursor',
      responses: { 200: '{ items, next, count: { value, capped } } (count on the first page only, capped at 10,000)', 400: 'bad filter or caller number' },
      handler: ({ principal, body, requestId, source }) => playback.list(principal, body, { requestId, source }),
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/recordings/per-day', policy: { permission: 'recordings:list' }, tag: 'recordings', query: perDayQuery,
      summary: 'Calls per UTC day in [from, to) within your scope (at most 366 days), optionally for one care unit',
      responses: { 200: '{ days: [{ day, calls }] }', 400: 'bad range' },
      handler: ({ principal, query, requestId, source }) => playback.perDay(principal, query, { requestId, source }),
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/recordings/:id', policy: { permission: 'recordings:view' }, tag: 'recordings', params: idParams,
      summary: "A recording's metadata, with caller and callee numbers",
      responses: { 200: 'the recording, with `allowed`: what you may do with it (play, download, export, legal_hold, erase, history)', 403: 'outside your scope; break-glass available (code break_glass_available)', 404: 'not found (or not yours to see)' },
      handler: ({ principal, params, requestId, source }) => playback.get(principal, params.id, { requestId, source }),
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/recordings/:id/audio', policy: { permission: 'recordings:play' }, tag: 'recordings', params: idParams,
      summary: 'The audio (the original WAV), decrypted on the fly; honours a single HTTP byte Range (206)',
      responses: { 200: 'whole recording', 206: 'the requested range', 404: 'not found', 416: 'range not satisfiable' },
      async handler({ req, reply, principal, params, requestId, source }) {
        // The audio carries no validator (ETag, Last-Modified), so no If-Range can match: a Range
        // sent with one is ignored and the whole recording is sent (RFC 9110 13.1.5).
        const rangeHeader = req.headers['if-range'] === undefined ? req.headers.range : undefined;
        const audio = await playback.audio(principal, params.id, (size) => {
          const r = parseRange(rangeHeader, size);
          if (r.kind === 'unsatisfiable') return 'unsatisfiable';
          return r.kind === 'range' ? { start: r.start, end: r.end } : { start: 0, end: size };
        }, { requestId, source });
        const partial = rangeHeader !== undefined && parseRange(rangeHeader, audio.size).kind === 'range';
        reply.code(partial ? 206 : 200).headers({
          'content-type': audio.contentType,
          'accept-ranges': 'bytes',
          'content-length': String(audio.end - audio.start),
          'content-disposition': 'inline',
          ...(partial ? { 'content-range': `bytes ${audio.start}-${audio.end - 1}/${audio.size}` } : {}),
        });
        return reply.send(audioStream(req, params.id, audio.body));
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/recordings/:id/waveform', policy: { permission: 'recordings:play' }, tag: 'recordings', params: idParams, query: waveformQuery,
      summary: "Peaks of the recording's audio per channel (0..1), for drawing its waveform; PCM and G.711 only",
      responses: { 200: '{ channels, durationMs, peaks }', 404: 'not found', 415: 'no waveform for this codec' },
      handler: ({ principal, params, query, requestId, source }) => playback.waveform(principal, params.id, query.points, { requestId, source }),
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/recordings/:id/history', policy: { permission: 'recordings:history' }, tag: 'recordings', params: idParams,
      summary: "The recording's own access history: its audit events, newest first",
      responses: { 200: '{ items }', 404: 'not found' },
      handler: ({ principal, params, requestId, source }) => playback.history(principal, params.id, { requestId, source }),
    }),
    defineRoute({
      method: 'GET', url: '/api/v1/recordings/:id/download', policy: { permission: 'recordings:download' }, tag: 'recordings', params: idParams,
      summary: 'The whole audio as a file (attachment); needs a step-up within the last 5 minutes',
      responses: { 200: 'the audio file', 403: 'step-up required (code step_up_required)', 404: 'not found' },
      async handler({ req, reply, principal, params, requestId, source }) {
        const audio = await playback.download(principal, params.id, { requestId, source });
        return sendAttachment(req, reply, params.id, audio);
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/recordings/:id/export', policy: { permission: 'recordings:export' }, tag: 'recordings', params: idParams, body: exportBody,
      summary: 'The recording as an age file for the given age recipient (data-subject export); needs a step-up within the last 5 minutes',
      responses: { 200: 'application/octet-stream: an age v1 file', 400: 'not an age X25519 recipient', 403: 'step-up required', 404: 'not found' },
      async handler({ req, reply, principal, params, body, requestId, source }) {
        const out = await playback.exportTo(principal, params.id, body.recipient, { requestId, source });
        return sendAttachment(req, reply, params.id, { ...out, contentType: 'application/octet-stream' });
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/recordings/:id/break-glass', policy: { permission: 'recordings:break_glass' }, tag: 'recordings', params: idParams, body: breakGlassBody,
      summary: 'Emergency access to a recording outside your scope: state the reason; view and play for 60 minutes, reviewed afterwards',
      responses: { 201: '{ id, expiresAt }', 400: 'no reason given', 404: 'not found', 409: 'within your scope already, or a grant is live' },
      async handler({ reply, principal, params, body, requestId, source }) {
        const grant = await accountCall(() => breakGlass.open(principal, params.id, body.reason, { requestId, source }));
        reply.code(201);
        return grant;
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/recordings/:id/legal-hold', policy: { permission: 'recordings:legal_hold' }, tag: 'recordings', params: idParams, body: holdBody,
      summary: 'Put a legal hold on a recording (it cannot be erased) or release it',
      responses: { 200: '{ id, legalHold }', 404: 'not found' },
      handler: ({ principal, params, body, requestId, source }) => erasure.setLegalHold(principal, params.id, body.hold, { requestId, source }),
    }),
    defineRoute({
      method: 'POST', url: '/api/v1/recordings/:id/erase', policy: { permission: 'recordings:delete' }, tag: 'recordings', params: idParams, body: eraseBody,
      summary: 'Erase a recording: key, numbers and audio destroyed, a tombstone kept for the audit log; needs a step-up within 5 minutes',
      responses: { 200: '{ id, erasedAt, audioDeleted }: audioDeleted false when the store did not answer in time (the key is gone; the audio is deleted by retries)', 403: 'step-up required', 404: 'not found', 409: 'under legal hold' },
      handler: ({ principal, params, body, requestId, source }) => erasure.erase(principal, params.id, body.basis, { requestId, source }),
    }),
  ];
}
