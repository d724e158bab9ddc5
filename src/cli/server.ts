// Wiring of the HTTP server over an open archive.
import type { FastifyInstance } from 'fastify';
import { accountRoutes } from '../access/routes.ts';
import { createOidc } from '../access/oidc.ts';
import { oidcRoutes } from '../access/oidc-routes.ts';
import { passkeyRoutes } from '../access/passkey-routes.ts';
import { createPasskeys } from '../access/passkeys.ts';
import { userRoutes } from '../access/user-routes.ts';
import { adminRoutes } from '../access/admin-routes.ts';
import { baseUrl, witnessOf, type Config } from '../config/config.ts';
import { auditVerifierKey, createCheckpointer, logOrigin, type Checkpointer } from '../audit/checkpointer.ts';
import { auditRoutes } from '../audit/routes.ts';
import { readTimeline } from '../audit/timeline.ts';
import { verifyAuditLog } from '../audit/verify.ts';
import { WitnessError, type Witness } from '../audit/witness.ts';
import { createAlertEngine, DEFAULT_RULES, rulesFromEnv, type AlertEngine, type AlertRules } from '../audit/alerts.ts';
import { createAuthenticate } from '../http/authenticate.ts';
import { createRateLimiter } from '../http/rate-limit.ts';
import { defineRoute, type RouteDef } from '../http/routes.ts';
import { buildServer } from '../http/server.ts';
import { pageRoutes } from '../http/pages.ts';
import { uploadRoutes } from '../ingest/routes.ts';
import { createUploadService, type UploadService } from '../ingest/uploads.ts';
import type { IngestJournal } from '../ingest/journal.ts';
import { createReopener, type RecoveryReport } from '../ingest/recovery.ts';
import { recordingRoutes } from '../playback/routes.ts';
import { createPlayback } from '../playback/service.ts';
import { createErasure } from '../playback/erasure.ts';
import { createPurge, type Purge } from '../jobs/purge.ts';
import { createRetention, retentionOf, type Retention } from '../jobs/retention.ts';
import { openWitness, type Archive } from './archive.ts';
import { startIngest, type IngestRuntime } from './ingest-wiring.ts';
import { describeOldCopy, oldCopyIn } from './old-copy.ts';

export class ListenError extends Error {
  /** The system's error code (EADDRINUSE, EACCES...), where there was one. */
  readonly code: string | undefined;
  constructor(message: string, code?: string) {
    super(message);
    this.code = code;
  }
}

/** Where a person opens their one-time enrollment link (the token travels in the fragment). */
export const enrollUrlAt = (base: string, token: string) => `${base}/enroll#token=${token}`;
export const enrollUrl = (c: Config, token: string) => enrollUrlAt(baseUrl(c), token);

export interface Running {
  app: FastifyInstance;
  alerts: AlertEngine;
  checkpointer: Checkpointer;
  recovery: RecoveryReport;
  journal: IngestJournal;
  ingest: IngestRuntime;
  routes: RouteDef[];
  uploads: UploadService;
  purge: Purge;
  retention: Retention;
  /** The public base URL: the configured one, or the address listened on (with the port bound, when asked for port 0). */
  url: string;
  /** Stops taking requests, lets those in flight finish, drops unfinished uploads. */
  close(): Promise<void>;
}

const health = defineRoute({
  method: 'GET', url: '/healthz', tag: 'health', policy: { public: true, why: 'liveness probe; says nothing but ok' },
  summary: 'Liveness', responses: { 200: '{ status: "ok" }' },
  handler: async () => ({ status: 'ok' }),
});

/** What recovery, and the reopening of a recording filed early, need: the identity among them. */
function recoveryDeps(a: Archive, onError: (what: string, err: unknown) => void) {
  return { db: a.db, recordings: a.recordings, store: a.store, audit: a.audit, archiveIdentity: a.keys.archiveIdentity, onError };
}

export interface RouteOptions {
  /** Where background failures are reported. */
  onError?: (what: string, err: unknown) => void;
  /** The public base URL, known once listening (the port may be chosen then). */
  base?: () => string;
  alertRules?: AlertRules;
  /** Where `/api/v1/audit/verify` reads the witnessed checkpoints. */
  witness: Witness;
  /** The deletion of erased recordings' objects (one per server, shared with its background runs). */
  purge: Purge;
}

export function allRoutes(a: Archive, config: Config, ingest: Pick<IngestRuntime, 'journal' | 'nodeId' | 'takeOver'>, opts: RouteOptions): { routes: RouteDef[]; uploads: UploadService } {
  const onError = opts.onError ?? (() => undefined);
  const base = opts.base ?? (() => baseUrl(config));
  const { journal, nodeId, takeOver } = ingest;
  const uploads = createUploadService({
    db: a.db, recordings: a.recordings, store: a.store, audit: a.audit, blindIndex: a.blindIndex, journal, nodeId, takeOver,
    keyActive: (keyId) => a.apiKeys.isActive(keyId), onError,
    archiveRecipient: a.keys.archiveRecipient, maxUploadBytes: config.maxUploadBytes, idleMs: config.uploadIdleSeconds * 1000,
    journalRotateBytes: config.journalRotateBytes, reopenFiled: createReopener({ ...recoveryDeps(a, onError), journal, nodeId }),
  });
  const playback = createPlayback({
    recordings: a.recordings, store: a.store, audit: a.audit, blindIndex: a.blindIndex, archiveIdentity: a.keys.archiveIdentity,
    grantedIds: a.breakGlass.grantedIds, grantOf: a.breakGlass.grantOf,
    auditEvents: async (recording) => (await readTimeline(a.db, { recording, limit: 500 })).items,
  });
  const erasure = createErasure({
    db: a.db, recordings: a.recordings, purge: opts.purge, audit: a.audit, grantedIds: a.breakGlass.grantedIds, grantOf: a.breakGlass.grantOf, onErased: (id) => uploads.forget(id), onError,
  });
  const limiter = createRateLimiter({ limit: 20, windowMs: 60_000 });
  const passkeys = createPasskeys({ db: a.db, audit: a.audit, sessions: a.sessions, publicUrl: base });
  const routes = [
    health, ...pageRoutes(),
    ...accountRoutes({ accounts: a.accounts, sessions: a.sessions, audit: a.audit, limiter }),
    ...passkeyRoutes({ passkeys, sessions: a.sessions, limiter }),
    ...adminRoutes({ apiKeys: a.apiKeys, config, publicUrl: base, alertRules: opts.alertRules ?? DEFAULT_RULES }),
    ...userRoutes({ users: a.users, breakGlass: a.breakGlass, enrollUrl: (token) => enrollUrlAt(base(), token) }),
    ...uploadRoutes(uploads), ...recordingRoutes(playback, a.breakGlass, erasure),
    ...(config.oidc ? oidcRoutes({ oidc: createOidc({ db: a.db, audit: a.audit, sessions: a.sessions, config: config.oidc, redirectUri: () => `${base()}/api/v1/sso/callback` }) }) : []),
    ...auditRoutes({
      db: a.db, audit: a.audit, blindIndex: a.blindIndex,
      // The server's own thread only hands out chunks: it goes on answering (live calls above all).
      verify: () => verifyAuditLog({ db: a.db, vkey: auditVerifierKey(logOrigin(a.keys.archiveRecipient), a.keys.auditSigningKey()), witness: opts.witness, parallel: { thisThread: false } }),
    }),
  ];
  return { routes, uploads };
}

/** The routes, for documentation only: their handlers are never called, so no services back them. */
export function describeRoutes(): RouteDef[] {
  const unused = {} as never;
  return [health, ...pageRoutes(), ...accountRoutes(unused), ...passkeyRoutes(unused), ...userRoutes(unused), ...adminRoutes(unused), ...uploadRoutes(unused), ...recordingRoutes(unused, unused, unused), ...auditRoutes(unused), ...oidcRoutes(unused)];
}

export async function startServer(a: Archive, config: Config, logStream?: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): Promise<Running> {
  // A witness bucket that cannot be used stops the start, as the blob store's does.
  const witness = await openWitness(witnessOf(config));
  // Uploads left in flight by the last run (or by nodes that are gone) are filed first, up to
  // their last durable byte.
  // Background failures go to the server's log (bound late: the server is built from these routes).
  const onError = (what: string, err: unknown) => app.log.error({ err: { name: (err as Error)?.name, message: (err as Error)?.message } }, `${what} failed`);
  const ingest = await startIngest(a, config, recoveryDeps(a, onError), (err) => {
    // Another node adopts this node's calls: stop taking any, fail closed. Restart the node to take calls again.
    uploads.relinquish();
    onError('holding this node\'s lease', err);
  }).catch(async (err: unknown) => {
    await witness.close();
    throw err;
  });
  const { journal, recovery } = ingest;
  let listeningAt: string | undefined; // the base URL with the port actually bound (when asked for port 0)
  const publicBase = () => listeningAt ?? baseUrl(config);
  const purge = createPurge({ db: a.db, store: a.store, onError });
  const { routes, uploads } = allRoutes(a, config, ingest, { onError, base: publicBase, alertRules: rulesFromEnv(env), witness, purge });
  const checkpointer = createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin: logOrigin(a.keys.archiveRecipient), witness });

  const app = buildServer({ config, routes, audit: a.audit, authenticate: createAuthenticate(a), logStream });
  // A witness that is away costs its copy, not the checkpoint: the catalog keeps it, the next round copies it.
  const checkpointFailed = (err: unknown) => app.log.error({ err: { message: (err as Error)?.message } },
    err instanceof WitnessError ? 'copying audit checkpoints to the witness failed (they stay in the catalog; the next round copies them)' : 'audit checkpoint failed');
  const checkpoint = () => checkpointer.checkpoint().catch((err: unknown) => {
    if (!(err instanceof WitnessError)) throw err;
    checkpointFailed(err);
  });
  await checkpoint();
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (err) {
    // Nothing was taken: the server, its ingest journal and lease are let go (a failure to is logged; the listen error stands).
    await app.close().catch((e: unknown) => onError('closing the server after the failed start', e));
    await ingest.close().catch((e: unknown) => onError('closing the ingest journal after the failed start', e));
    await witness.close();
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such local address' : (err as Error).message;
    throw new ListenError(`cannot listen on ${config.listen.host}:${config.listen.port}: ${why}`, code);
  }
  const old = oldCopyIn(a.dir, a);
  if (old) {
    app.log.warn(`an old copy of this archive is still in the data directory since it was moved: ${describeOldCopy(old)}. Erasures do not reach it; ` +
      'once the archive verifies, remove it with: callvault migrate --data DIR --remove-old-copy (with this archive\'s settings)');
  }
  const bound = app.server.address();
  if (!config.publicUrl && config.listen.port === 0 && bound && typeof bound === 'object') listeningAt = baseUrl({ ...config, listen: { ...config.listen, port: bound.port } });
  const alerts = createAlertEngine({ db: a.db, rules: rulesFromEnv(env), log: (line) => app.log.warn(line, 'audit alert') });
  a.audit.observe(alerts.observe);
  const checkpoints = setInterval(() => {
    checkpointer.checkpoint().catch(checkpointFailed);
  }, 60_000);
  checkpoints.unref();
  const sweeper = setInterval(() => {
    uploads.sweep().catch((err) => app.log.error({ err: { message: (err as Error).message } }, 'upload sweep failed'));
  }, 60_000);
  sweeper.unref();
  // Retention: recordings past their period are erased at start and every hour after.
  const retention = createRetention({ db: a.db, audit: a.audit, purge, rules: retentionOf(config) });
  const retentionRun = () => retention.run().then((r) => {
    const erased = Object.values(r.erased).reduce((x, y) => x + y, 0);
    if (erased > 0 || r.held > 0) app.log.info({ retention: r }, `retention: ${erased} recordings past their period erased${r.held ? `, ${r.held} kept under legal hold` : ''}`);
  }, (err: unknown) => onError('erasing recordings past their retention period', err));
  void retention.unknownUnits().then((unknown) => {
    if (unknown.length) app.log.warn(`CALLVAULT_RETENTION_BY_UNIT names care units that hold no recording: ${unknown.join(', ')}; check the spelling (a unit misspelt there is kept for the default period)`);
  }, (err: unknown) => onError('checking the care units of the retention periods', err));
  if (config.retentionDays === undefined) {
    app.log.warn('no retention period is set (CALLVAULT_RETENTION_DAYS): recordings are kept until erased by hand' +
      (Object.keys(config.retentionByUnit).length ? ', except in the units of CALLVAULT_RETENTION_BY_UNIT' : ''));
  }
  // One run at a time: a run longer than the hour (a backlog) is not followed by one queued behind it.
  let retaining: Promise<void> | null = null;
  const retain = () => {
    retaining ??= retentionRun().finally(() => {
      retaining = null;
    });
  };
  retain();
  const retainer = setInterval(retain, 3_600_000);
  retainer.unref();
  // Objects erasures left to delete (the store was away): retried until they are gone.
  const purgeRun = () => purge.run().catch((err: unknown) => onError('deleting the objects of erased recordings', err));
  void purgeRun();
  const purger = setInterval(purgeRun, 60_000);
  purger.unref();
  // Calls of nodes that are gone are adopted here, so their clients can go on (shared catalog only).
  const adopter = ingest.leaseMs === null ? null : setInterval(() => {
    ingest.adoptGone().catch((err) => onError('adopting the calls of a node that is gone', err));
  }, Math.max(250, ingest.leaseMs / 2));
  adopter?.unref();
  return {
    app, routes, uploads, recovery, journal, ingest, checkpointer, alerts, purge, retention, url: publicBase(),
    async close() {
      clearInterval(sweeper);
      clearInterval(purger);
      clearInterval(retainer);
      clearInterval(checkpoints);
      if (adopter) clearInterval(adopter);
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
      await alerts.settled();
      // The retention run under way ends after its batch, and the purge after the object under way
      // (waiting at most 2 s: with the store away, what is queued waits for the next start).
      retention.stop();
      const purgeClosed = purge.close(2_000);
      await retaining;
      await purgeClosed;
      await checkpoint(); // the last events of this run are checkpointed too
      await witness.close();
      // Everything acknowledged is in the journal: what was in flight is filed as interrupted
      // by a shutdown, not by a crash (at the next start, or at once by another node).
      await ingest.close();
    },
  };
}
