// Composition root of the `callvault` command.
import { ArchiveError } from './cli/archive.ts';
import { err, out, UsageError, watchStdout } from './cli/output.ts';
import * as verbs from './cli/verbs.ts';
import { ConfigError } from './config/config.ts';
import { ApiKeyInputError } from './access/api-keys.ts';
import { AccountError } from './access/accounts.ts';
import { ExportError } from './playback/export.ts';
import { ListenError } from './cli/server.ts';
import { CatalogError } from './catalog/db.ts';

const HELP = `callvault: a vault for call recordings

Usage: callvault <command> [options]

  start                     create ./data on first run (or --data DIR), then serve
  init --data DIR           create a new archive; prints the first administrator's enrollment link
  serve --data DIR          serve the HTTP API (--listen HOST:PORT, default 127.0.0.1:8750;
                            --tls-cert FILE --tls-key FILE to listen beyond loopback)
  enroll-link --data DIR    a fresh enrollment link for an administrator who has not enrolled
  user invite --data DIR NAME --role ROLE [--role ROLE] [--unit UNIT ...] [--agent AGENT_ID]
                            invite a person (roles: administrator, supervisor, agent, auditor,
                            privacy_officer); prints their one-time enrollment link
  user list --data DIR      everyone with an account, their roles, units and status
  user assign --data DIR NAME --role ROLE ... [--unit UNIT ...] [--agent ID]   set roles and scopes
  user disable|enable --data DIR NAME
  user reset --data DIR NAME    reset password and second factors; prints a new enrollment link
  user link --data DIR NAME     a fresh enrollment link for someone who has not enrolled yet
  apikey create --data DIR --scope ingest --name NAME [--allow CIDR,...] [--rate N]
  apikey list --data DIR
  apikey revoke --data DIR KEY_ID
  export --data DIR RECORDING_ID --out FILE   write a standard age file
  audit verify --data DIR   prove no audit entry was altered, removed or reordered (exit 1 naming the first problem)
  audit proof --data DIR SEQ    inclusion proof of one audit entry in the latest checkpoint
  audit checkpoint --data DIR   sign a checkpoint now (the server does so every 60 s and at shutdown)
  audit extract --data DIR (--phone N | --personnummer P) [--format json|html] [--out FILE]
                            a patient's log extract: every access to their calls
  audit alerts --data DIR   alerts raised on unusual access (plays per hour, working hours, denials)
  seed --data DIR --calls N [--days D]   a synthetic catalog (metadata only, flagged synthetic)
                            for benchmarks and demos
  retention --data DIR [--dry-run]   erase the recordings past their retention period now
                            (CALLVAULT_RETENTION_DAYS, CALLVAULT_RETENTION_BY_UNIT; the server
                            does so at start and every hour); --dry-run only counts them
  migrate --data DIR [--to-database-url URL] [--to-blob-url URL]
                            move the archive to a PostgreSQL catalog and/or an S3-compatible
                            bucket, verifying every row and object; resumable; stop servers first
  openapi                   print the OpenAPI document of the API
  simulate --url URL --key KEY --calls N --concurrency C --duration S [--codec pcmu|pcma] [--care-unit X]
                            stream simulated live calls at real rate (demo and load test)

The data directory can also be given as CALLVAULT_DATA. The catalog is DATA/catalog.sqlite
unless --database-url postgres://... (or CALLVAULT_DATABASE_URL) names a PostgreSQL database.
The recordings are in DATA/blobs unless --blob-url s3://... (or CALLVAULT_BLOB_URL) names
an S3-compatible bucket (credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY). Signed audit
checkpoints are copied to DATA-witness unless --witness DIR or --witness s3://... (or
CALLVAULT_AUDIT_WITNESS) names another directory or a bucket. Behind a load balancer, set
CALLVAULT_TRUSTED_PROXIES to its addresses so that X-Forwarded-For names the client.`;

export async function main(argv: string[]): Promise<number> {
  watchStdout();
  const [verb, ...args] = argv;
  try {
    switch (verb) {
      case 'start': return await verbs.start(args);
      case 'init': return await verbs.init(args);
      case 'serve': return await verbs.serve(args);
      case 'enroll-link': return await verbs.enrollLink(args);
      case 'apikey': return await verbs.apikey(args);
      case 'user': return await verbs.user(args);
      case 'export': return await verbs.exportVerb(args);
      case 'openapi': return await verbs.openapi(args);
      case 'seed': return await verbs.seed(args);
      case 'simulate': return await verbs.simulate(args);
      case 'audit': return await verbs.audit(args);
      case 'migrate': return await verbs.migrate(args);
      case 'retention': return await verbs.retention(args);
      case undefined: case 'help': case '--help': case '-h':
        out(HELP);
        return verb === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${verb}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`callvault: ${e.message}\nRun "callvault help" for usage.`);
      return 2;
    }
    if (e instanceof ConfigError || e instanceof ArchiveError || e instanceof ApiKeyInputError || e instanceof AccountError || e instanceof ExportError || e instanceof ListenError || e instanceof CatalogError) {
      err(`callvault: ${e.message}`);
      return 1;
    }
    // Anything else is a fault of callvault's or of what it stands on (a damaged file, a server
    // that answers nonsense): said in one line; where it happened, on request.
    if (process.env.CALLVAULT_DEBUG) throw e;
    err(`callvault: ${(e as Error)?.message ?? String(e)}\n(set CALLVAULT_DEBUG=1 to see where this happened)`);
    return 1;
  }
}
