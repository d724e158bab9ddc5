// Wiring of the HTTP server over an open archive.
import type { FastifyInstance } from 'fastify';
import { accountRoutes } from '../access/routes.ts';
import type { Config } from '../config/config.ts';
import { createAuthenticate } from '../http/authenticate.ts';
import { createRateLimiter } from '../http/rate-limit.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { buildServer } from '../http/server.ts';
import { pageRoutes } from '../http/pages.ts';
import { uploadRoutes } from '../ingest/routes.ts';
import { createUploadService, type UploadService } from '../ingest/uploads.ts';
import { recordingRoutes } from '../playback/routes.ts';
import { createPlayback } from '../playback/service.ts';
import type { Archive } from './archive.ts';

export class ListenError extends Error {}

export interface Running {
  app: FastifyInstance;
  routes: RouteDef[];
  uploads: UploadService;
  /** Stops taking requests, lets those in flight finish, drops unfinished uploads. */
  close(): Promise<void>;
}

const health = defineRoute({
  method: 'GET', url: '/healthz', tag: 'health', policy: { public: true, why: 'liveness probe; says nothing but ok' },
  summary: 'Liveness', responses: { 200: '{ status: "ok" }' },
  handler: async () => ({ status: 'ok' }),
});

export function allRoutes(a: Archive, config: Config): { routes: RouteDef[]; uploads: UploadService } {
  const uploads = createUploadService({
    db: a.db, recordings: a.recordings, store: a.store, audit: a.audit, blindIndex: a.blindIndex,
    archiveRecipient: a.keys.archiveRecipient, maxUploadBytes: config.maxUploadBytes, idleMs: config.uploadIdleSeconds * 1000,
  });
  const playback = createPlayback({
    recordings: a.recordings, store: a.store, audit: a.audit, blindIndex: a.blindIndex, archiveIdentity: a.keys.archiveIdentity,
  });
  const limiter = createRateLimiter({ limit: 20, windowMs: 60_000 });
  const routes = [health, ...pageRoutes(), ...accountRoutes(a.accounts, limiter), ...uploadRoutes(uploads), ...recordingRoutes(playback)];
  return { routes, uploads };
}

/** The routes, for documentation only: their handlers are never called, so no services back them. */
export function describeRoutes(): RouteDef[] {
  const unused = {} as never;
  return [health, ...pageRoutes(), ...accountRoutes(unused, unused), ...uploadRoutes(unused), ...recordingRoutes(unused)];
}

export async function startServer(a: Archive, config: Config, logStream?: NodeJS.WritableStream): Promise<Running> {
  await a.store.cleanOrphans();
  const { routes, uploads } = allRoutes(a, config);
  const app = buildServer({ config, routes, audit: a.audit, authenticate: createAuthenticate(a), logStream });
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (err) {
    await app.close().catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such local address' : (err as Error).message;
    throw new ListenError(`cannot listen on ${config.listen.host}:${config.listen.port}: ${why}`);
  }
  const sweeper = setInterval(() => {
    uploads.sweep().catch((err) => app.log.error({ err: { message: (err as Error).message } }, 'upload sweep failed'));
  }, 60_000);
  sweeper.unref();
  return {
    app, routes, uploads,
    async close() {
      clearInterval(sweeper);
      // Stop listening, end upload bodies still streaming, let the rest finish; after a
      // grace period, close whatever connection is still open.
      const closed = app.close();
      await uploads.close();
      const grace = setTimeout(() => app.server.closeAllConnections(), 5_000);
      try {
        await closed;
      } finally {
        clearTimeout(grace);
      }
    },
  };
}
