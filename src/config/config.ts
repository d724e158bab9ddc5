// One schema for configuration: parsed once at start, fails fast with every problem named.
// There are no secret defaults: keys live in the data directory, created by `callvault init`.
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

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

export const configSchema = z.object({
  dataDir: z.string({ error: 'the data directory is required: --data DIR or CALLVAULT_DATA' }).min(1)
    .transform((p) => (isAbsolute(p) ? p : resolve(p))),
  listen: listenSchema.default({ host: '127.0.0.1', port: DEFAULT_PORT }),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  publicUrl: z.url().optional(),
  /** Where signed audit checkpoints are copied: outside the data directory (default DATA-witness). */
  auditWitnessDir: z.string().min(1).optional(),
  maxUploadBytes: z.coerce.number().int().positive().max(2 ** 40).default(2 * 1024 ** 3),
  uploadIdleSeconds: z.coerce.number().int().positive().default(3600),
  /** The ingest journal starts a new file past this size (at least 256 KiB per call in flight). */
  journalRotateBytes: z.coerce.number().int().min(4096).default(64 * 1024 * 1024),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'),
}).superRefine((c, ctx) => {
  if (Boolean(c.tlsCert) !== Boolean(c.tlsKey)) {
    ctx.addIssue({ code: 'custom', message: 'TLS needs both a certificate and a key (--tls-cert and --tls-key)' });
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

export function witnessDirOf(c: Config): string {
  return c.auditWitnessDir ? resolve(c.auditWitnessDir) : `${c.dataDir.replace(/\/+$/, '')}-witness`;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return Boolean(m && m.slice(1).every((o) => Number(o) <= 255));
}

export class ConfigError extends Error {}

/** Flags win over environment variables. */
export function loadConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = {
    dataDir: flags.data ?? env.CALLVAULT_DATA,
    listen: flags.listen ?? env.CALLVAULT_LISTEN,
    tlsCert: flags['tls-cert'] ?? env.CALLVAULT_TLS_CERT,
    tlsKey: flags['tls-key'] ?? env.CALLVAULT_TLS_KEY,
    publicUrl: flags['public-url'] ?? env.CALLVAULT_PUBLIC_URL,
    auditWitnessDir: flags.witness ?? env.CALLVAULT_AUDIT_WITNESS,
    maxUploadBytes: env.CALLVAULT_MAX_UPLOAD_BYTES,
    uploadIdleSeconds: env.CALLVAULT_UPLOAD_IDLE_SECONDS,
    journalRotateBytes: env.CALLVAULT_JOURNAL_ROTATE_BYTES,
    logLevel: env.CALLVAULT_LOG_LEVEL,
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
