// One schema for configuration: parsed once at start, fails fast with every problem named.
// There are no secret defaults: keys live in the data directory, created by `callvault init`.
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { CidrError, ipv4PrefixOf, isLoopback, parseCidr } from '../lib/net.ts';
import { z } from 'zod';
import { ROLES, type Role } from '../access/policy.ts';
import { CARE_UNIT, CARE_UNIT_RULE } from '../catalog/names.ts';
import { BlobUrlError, describeLocation, parseBlobUrl, type S3Location } from '../store/s3-url.ts';

export const DEFAULT_PORT = 8750;

const listenSchema = z.string().transform((value, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: 'listen address must be HOST:PORT, e.g. 127.0.0.1:8750 or [::1]:8750' });
    return z.NEVER;
  }
  return { host: (m[1] ?? m[2])!, port };
});

// Single sign-on (OpenID Connect), from CALLVAULT_OIDC_* variables. Every message names the
// variable to fix. Plain http is accepted only for an issuer on loopback (a test or a local IdP):
// anywhere else the tokens, and so the sessions they open, would travel in the clear.
const OIDC_CLAIM = /^[\x21-\x7e]{1,200}$/;
const oidcClaim = (name: string, fallback: string) =>
  z.string().regex(OIDC_CLAIM, `${name} must be a claim name (1 to 200 printable characters, no spaces)`).default(fallback);

const oidcSchema = z.object({
  issuer: z.string({ error: 'single sign-on is configured (CALLVAULT_OIDC_*) but CALLVAULT_OIDC_ISSUER is missing' }).transform((value, ctx) => {
    let u: URL | undefined;
    try { u = new URL(value); } catch { /* reported below */ }
    const loopback = u !== undefined && isLoopback(u.hostname.replace(/^\[(.*)\]$/, '$1'));
    const problem = !u ? 'is not a URL'
      : u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback) ? 'must be an https URL (http is accepted only on loopback)'
        : u.search || u.hash || value.includes('#') || value.endsWith('?') ? 'must not have a query or fragment'
          : u.username || u.password ? 'must not carry credentials'
            : u.pathname.includes('/.well-known/') ? 'is the issuer identifier itself, not its discovery document URL' : null;
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `CALLVAULT_OIDC_ISSUER ${problem}` });
      return z.NEVER;
    }
    return value;
  }),
  clientId: z.string({ error: 'CALLVAULT_OIDC_CLIENT_ID is required for single sign-on' }).min(1).max(256),
  clientSecret: z.string({ error: 'CALLVAULT_OIDC_CLIENT_SECRET is required for single sign-on' }).min(1, 'CALLVAULT_OIDC_CLIENT_SECRET is empty'),
  scopes: z.string().default('openid profile').transform((s, ctx) => {
    const scopes = [...new Set(s.split(/\s+/).filter(Boolean))];
    if (!scopes.includes('openid') || scopes.some((x) => !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(x))) {
      ctx.addIssue({ code: 'custom', message: 'CALLVAULT_OIDC_SCOPES must be space-separated scope names including openid' });
      return z.NEVER;
    }
    return scopes;
  }),
  roleClaim: oidcClaim('CALLVAULT_OIDC_ROLE_CLAIM', 'roles'),
  roleMap: z.string({ error: 'CALLVAULT_OIDC_ROLE_MAP is required: a JSON object from role-claim values to callvault roles' }).transform((s, ctx) => {
    let v: unknown;
    try { v = JSON.parse(s); } catch { /* reported below */ }
    const entries = v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v) : [];
    const bad = entries.find(([k, r]) => k === '' || !(ROLES as readonly unknown[]).includes(r));
    if (entries.length === 0 || bad) {
      ctx.addIssue({
        code: 'custom',
        message: bad ? `CALLVAULT_OIDC_ROLE_MAP maps ${JSON.stringify(bad[0])} to ${JSON.stringify(bad[1])}, which is not one of ${ROLES.join(', ')}`
          : 'CALLVAULT_OIDC_ROLE_MAP must be a non-empty JSON object, e.g. {"callvault-nurse":"agent"}',
      });
      return z.NEVER;
    }
    return Object.fromEntries(entries) as Record<string, Role>;
  }),
  unitClaim: oidcClaim('CALLVAULT_OIDC_UNIT_CLAIM', 'hsa_care_units'),
  agentClaim: z.string().regex(OIDC_CLAIM, 'CALLVAULT_OIDC_AGENT_CLAIM must be a claim name').optional(),
  usernameClaim: oidcClaim('CALLVAULT_OIDC_USERNAME_CLAIM', 'preferred_username'),
});

export type OidcConfig = z.infer<typeof oidcSchema>;

// The PostgreSQL catalog (scale-out); without it the catalog is DATA/catalog.sqlite. Messages
// never repeat the URL: it may carry a password.
/** Whether `value` reads postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (a host in the URL or its host parameter). */
export function isPostgresUrl(value: string): boolean {
  let u: URL | undefined;
  try { u = new URL(value); } catch { return false; }
  return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && (Boolean(u.hostname) || Boolean(u.searchParams.get('host'))) && u.pathname.length >= 2;
}

const databaseUrlSchema = z.string().transform((value, ctx) => {
  if (!isPostgresUrl(value)) {
    ctx.addIssue({ code: 'custom', message: 'the database URL (--database-url or CALLVAULT_DATABASE_URL) must be postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE' });
    return z.NEVER;
  }
  return value;
});

// The S3-compatible blob store (scale-out); without it the blobs are in DATA/blobs. Credentials
// come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never from the URL, and messages never
// repeat the URL.
const blobUrlSchema = z.string().transform((value, ctx) => {
  try {
    parseBlobUrl(value);
  } catch (e) {
    if (!(e instanceof BlobUrlError)) throw e;
    ctx.addIssue({ code: 'custom', message: `the blob store URL (--blob-url or CALLVAULT_BLOB_URL) ${e.message}` });
    return z.NEVER;
  }
  return value;
});

/** Where signed audit checkpoints are copied: a directory, or an S3 bucket and prefix. */
export type WitnessChoice = { kind: 'dir'; dir: string } | { kind: 's3'; location: S3Location };

// The witness: a directory path, or s3://BUCKET[/PREFIX]?... (the blob store's URL form, its
// rules and its credentials). Anything that looks like a URL is read as one, so that a mistyped
// scheme is refused rather than taken for a directory.
const witnessSchema = z.string().min(1).transform((value, ctx): WitnessChoice => {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) return { kind: 'dir', dir: resolve(value) };
  try {
    return { kind: 's3', location: parseBlobUrl(value) };
  } catch (e) {
    if (!(e instanceof BlobUrlError)) throw e;
    ctx.addIssue({ code: 'custom', message: `the audit witness (--witness or CALLVAULT_AUDIT_WITNESS) ${e.message}` });
    return z.NEVER;
  }
});

/** The same bucket at the same service, with one prefix inside (or equal to) the other. */
function overlaps(a: S3Location, b: S3Location): boolean {
  return a.bucket === b.bucket && a.endpoint === b.endpoint && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix));
}

const MAX_RETENTION_DAYS = 36_500;
const retentionDaysSchema = z.string().regex(/^\s*\d+\s*$/, 'CALLVAULT_RETENTION_DAYS must be a whole number of days').transform(Number).pipe(z.number().int()
  .min(1, 'CALLVAULT_RETENTION_DAYS must be at least 1 day').max(MAX_RETENTION_DAYS, `CALLVAULT_RETENTION_DAYS must be at most ${MAX_RETENTION_DAYS} days`));

// Care units with a retention period of their own: "UNIT=DAYS, UNIT=DAYS" (unit names hold no = or ,).
const retentionByUnitSchema = z.string().transform((value, ctx) => {
  const out: Record<string, number> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(.+?)\s*=\s*(\d+)$/.exec(part);
    const unit = m?.[1]?.trim() ?? '';
    const days = Number(m?.[2]);
    const problem = !m ? `"${part}" is not UNIT=DAYS`
      : !CARE_UNIT.test(unit) ? `the care unit "${unit}" ${CARE_UNIT_RULE}`
        : !(days >= 1 && days <= MAX_RETENTION_DAYS) ? `${unit}: the period must be 1 to ${MAX_RETENTION_DAYS} days`
          : Object.hasOwn(out, unit) ? `${unit} is given twice` : null;
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `CALLVAULT_RETENTION_BY_UNIT (UNIT=DAYS, comma-separated): ${problem}` });
      return z.NEVER;
    }
    out[unit] = days;
  }
  return out;
});

// Load balancers and reverse proxies whose X-Forwarded-For is believed. A range wider than /8
// (of IPv4 or IPv6 addresses, an IPv6 range that takes in every IPv4-mapped address counted as
// the whole of IPv4) is refused: the clients in it could name their own address.
const trustedProxiesSchema = z.string().transform((text, ctx) => {
  const ranges = text.split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of ranges) {
    try {
      const range = parseCidr(r);
      const v4 = ipv4PrefixOf(range);
      if (range.prefix < 8 || (v4 !== null && v4 < 8)) throw new CidrError(`"${r}" is wider than /8: clients in it could name their own address`);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `CALLVAULT_TRUSTED_PROXIES (addresses or CIDR ranges, comma-separated): ${(e as Error).message}` });
      return z.NEVER;
    }
  }
  return ranges;
});

export const configSchema = z.object({
  dataDir: z.string({ error: 'the data directory is required: --data DIR or CALLVAULT_DATA' }).min(1)
    .transform((p) => (isAbsolute(p) ? p : resolve(p))),
  /** postgres:// URL of the catalog database; absent: the embedded SQLite catalog in the data directory. */
  databaseUrl: databaseUrlSchema.optional(),
  /** s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION&forcePathStyle=true; absent: DATA/blobs. */
  blobUrl: blobUrlSchema.optional(),
  listen: listenSchema.default({ host: '127.0.0.1', port: DEFAULT_PORT }),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  publicUrl: z.url().optional(),
  /** The load balancers or proxies in front: requests from them are taken to come from the address X-Forwarded-For names. */
  trustedProxies: trustedProxiesSchema.default([]),
  /** Where signed audit checkpoints are copied: outside the data directory (default the directory DATA-witness). */
  auditWitness: witnessSchema.optional(),
  maxUploadBytes: z.coerce.number().int().positive().max(2 ** 40).default(2 * 1024 ** 3),
  uploadIdleSeconds: z.coerce.number().int().positive().default(3600),
  /** The ingest journal starts a new file past this size (at least 256 KiB per call in flight). */
  journalRotateBytes: z.coerce.number().int().min(4096).default(64 * 1024 * 1024),
  /** This node's name among several over one PostgreSQL catalog: unique per serving process, stable across its restarts. */
  nodeId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'the node name (CALLVAULT_NODE_ID) must be 1 to 64 letters, digits, dots, dashes or underscores')
    .default(() => hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'node'),
  /** A node that has not renewed its lease for this long is gone: other nodes adopt its calls in flight. */
  nodeLeaseSeconds: z.coerce.number().min(1).max(3600).default(15),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'),
  /** Days a recording is kept (its call's start to its erasure); absent: kept until erased by hand. */
  retentionDays: retentionDaysSchema.optional(),
  /** Care units with a period of their own. */
  retentionByUnit: retentionByUnitSchema.default({}),
  oidc: oidcSchema.optional(),
}).superRefine((c, ctx) => {
  if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) {
    ctx.addIssue({ code: 'custom', message: 'TLS needs both a certificate and a key (--tls-cert and --tls-key)' });
  }
  // The blob store deletes and rewrites under its prefix; the witness's objects must be out of its reach.
  if (c.auditWitness?.kind === 's3' && c.blobUrl && overlaps(c.auditWitness.location, parseBlobUrl(c.blobUrl))) {
    ctx.addIssue({
      code: 'custom',
      message: `the audit witness ${describeLocation(c.auditWitness.location)} (--witness or CALLVAULT_AUDIT_WITNESS) overlaps the blob store ` +
        `${describeLocation(parseBlobUrl(c.blobUrl))} (--blob-url or CALLVAULT_BLOB_URL); give it a prefix of its own, neither inside nor around the blob store's, or another bucket`,
    });
  }
  if (!isLoopback(c.listen.host) && !c.tlsCert) {
    ctx.addIssue({
      code: 'custom',
      message: `refusing to listen on ${c.listen.host}: not a loopback address, and no TLS certificate and key are configured ` +
        '(--tls-cert/--tls-key or CALLVAULT_TLS_CERT/CALLVAULT_TLS_KEY)',
    });
  }
});

export type Config = z.infer<typeof configSchema>;

export function witnessOf(c: Config): WitnessChoice {
  return c.auditWitness ?? { kind: 'dir', dir: `${c.dataDir.replace(/\/+$/, '')}-witness` };
}

/** Where the witness is, for messages and settings: the directory, or s3://BUCKET/PREFIX/ (never the endpoint). */
export function describeWitness(w: WitnessChoice): string {
  return w.kind === 'dir' ? w.dir : describeLocation(w.location);
}

export { isLoopback };

export class ConfigError extends Error {}

/** Flags win over environment variables. */
export function loadConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    dataDir: flags.data ?? env.CALLVAULT_DATA,
    databaseUrl: flags['database-url'] ?? (env.CALLVAULT_DATABASE_URL || undefined),
    blobUrl: flags['blob-url'] ?? (env.CALLVAULT_BLOB_URL || undefined),
    listen: flags.listen ?? env.CALLVAULT_LISTEN,
    tlsCert: flags['tls-cert'] ?? env.CALLVAULT_TLS_CERT,
    tlsKey: flags['tls-key'] ?? env.CALLVAULT_TLS_KEY,
    publicUrl: flags['public-url'] ?? env.CALLVAULT_PUBLIC_URL,
    trustedProxies: env.CALLVAULT_TRUSTED_PROXIES || undefined,
    auditWitness: flags.witness ?? (env.CALLVAULT_AUDIT_WITNESS || undefined),
    maxUploadBytes: env.CALLVAULT_MAX_UPLOAD_BYTES,
    uploadIdleSeconds: env.CALLVAULT_UPLOAD_IDLE_SECONDS,
    journalRotateBytes: env.CALLVAULT_JOURNAL_ROTATE_BYTES,
    nodeId: flags['node-id'] ?? (env.CALLVAULT_NODE_ID || undefined),
    nodeLeaseSeconds: env.CALLVAULT_NODE_LEASE_SECONDS,
    logLevel: env.CALLVAULT_LOG_LEVEL,
    retentionDays: env.CALLVAULT_RETENTION_DAYS || undefined,
    retentionByUnit: env.CALLVAULT_RETENTION_BY_UNIT || undefined,
    // Any CALLVAULT_OIDC_* variable turns single sign-on on, and then the required ones must be there.
    oidc: Object.keys(env).some((k) => k.startsWith('CALLVAULT_OIDC_')) ? {
      issuer: env.CALLVAULT_OIDC_ISSUER, clientId: env.CALLVAULT_OIDC_CLIENT_ID, clientSecret: env.CALLVAULT_OIDC_CLIENT_SECRET,
      scopes: env.CALLVAULT_OIDC_SCOPES, roleClaim: env.CALLVAULT_OIDC_ROLE_CLAIM, roleMap: env.CALLVAULT_OIDC_ROLE_MAP,
      unitClaim: env.CALLVAULT_OIDC_UNIT_CLAIM, agentClaim: env.CALLVAULT_OIDC_AGENT_CLAIM, usernameClaim: env.CALLVAULT_OIDC_USERNAME_CLAIM,
    } : undefined,
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('\n'));
  }
  return parsed.data;
}

export function baseUrl(c: Config): string {
  if (c.publicUrl) return c.publicUrl.replace(/\/+$/, '');
  const host = c.listen.host.includes(':') ? `[${c.listen.host}]` : c.listen.host;
  return `${c.tlsCert ? 'https' : 'http'}://${host}:${c.listen.port}`;
}
