// The CLI verbs. Each one parses its own flags, opens what it needs and closes it again.
import { rm, type FileHandle } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import type { Actor } from '../audit/events.ts';
import { auditVerifierKey, createCheckpointer, logOrigin } from '../audit/checkpointer.ts';
import { extractHtml, patientExtract, patientOf, type Patient } from '../audit/extract.ts';
import { PersonnummerError } from '../audit/personnummer.ts';
import { proveEntry, verifyAuditLog } from '../audit/verify.ts';
import { WitnessConflictError, WitnessError } from '../audit/witness.ts';
import { PhoneNumberError } from '../catalog/phone.ts';
import { baseUrl, loadConfig, witnessOf, type Config } from '../config/config.ts';
import { isId } from '../catalog/ids.ts';
import { buildOpenApi } from '../http/openapi.ts';
import { exportRecording } from '../playback/export.ts';
import { NewFileError, openNewFile, writeAll, writeFailure } from '../lib/new-file.ts';
import { USERNAME } from '../access/users.ts';
import { createPurge } from '../jobs/purge.ts';
import { createRetention, retentionOf, retentionRules } from '../jobs/retention.ts';
import { seedCatalog } from '../catalog/seed.ts';
import { initArchive, isFreeForArchive, openArchive, openWitness, type Archive } from './archive.ts';
import { lockDataDir } from './lock.ts';
import { err, out, UsageError, writeOut } from './output.ts';
import { describeRoutes, enrollUrl, startServer } from './server.ts';

const COMMON = {
  data: { type: 'string' },
  listen: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'public-url': { type: 'string' },
  'database-url': { type: 'string' },
  'blob-url': { type: 'string' },
  witness: { type: 'string' },
} as const;

function flags<T extends Record<string, { type: 'string' | 'boolean' }>>(args: string[], options: T, positionals = 0) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: positionals > 0, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument: ${parsed.positionals[positionals]}`);
  return { values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}

function config(values: Record<string, string | boolean | undefined>, fallbackData?: string): Config {
  const strings = Object.fromEntries(Object.entries(values).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
  if (fallbackData && !strings.data && !process.env.CALLVAULT_DATA) strings.data = fallbackData;
  return loadConfig(strings);
}

const operator = (): Actor => ({ type: 'operator', id: userInfo().username, role: 'operator' });

async function withArchive<T>(c: Config, fn: (a: Archive) => Promise<T>): Promise<T> {
  const a = await openArchive(c.dataDir, c);
  try {
    return await fn(a);
  } finally {
    await a.close();
  }
}

/** An enrollment link for administrator `username`: invited now, or a fresh link if not yet enrolled. */
async function printEnrollment(a: Archive, c: Config, username: string): Promise<void> {
  const existing = await a.users.byUsername(username);
  if (existing && !existing.roles.includes('administrator')) throw new UsageError(`user ${username} exists and is not an administrator`);
  const { token, expiresAt } = existing
    ? await a.users.reissue(existing.id, operator())
    : await a.users.invite({ username, roles: ['administrator'], careUnits: [], agentId: null, actor: operator() });
  out(`Enrollment link for administrator "${username}" (one use, valid until ${new Date(expiresAt).toISOString()}):`);
  out(`  ${enrollUrl(c, token)}`);
  out('Open it in a browser to set a password and an authenticator (TOTP) second factor.');
}

/** The first administrator's name, checked before anything is made with it. */
function adminName(values: Record<string, string | boolean | undefined>): string {
  const name = String(values.admin ?? 'admin');
  if (!USERNAME.test(name)) throw new UsageError(`--admin ${JSON.stringify(name.slice(0, 80))}: a username is 2 to 64 lowercase letters, digits or . _ -`);
  return name;
}

export async function init(args: string[]): Promise<number> {
  const { values } = flags(args, { admin: { type: 'string' } });
  const c = config(values);
  // Refused before the archive is made: a made archive whose administrator failed could not be
  // made again with init (its directory is no longer empty).
  const admin = adminName(values);
  await initArchive(c.dataDir, c);
  out(`Created callvault archive in ${c.dataDir} (${c.databaseUrl ? 'PostgreSQL' : 'SQLite'} catalog, ${c.blobUrl ? 'S3-compatible' : 'local'} sealed blob store, keys in ${c.dataDir}/keys).`);
  out('Back up the keys folder separately from the data: without keys/archive-identity.txt no recording can be opened.');
  await withArchive(c, (a) => printEnrollment(a, c, admin));
  return 0;
}

export async function enrollLink(args: string[]): Promise<number> {
  const { values } = flags(args, { admin: { type: 'string' } });
  const c = config(values);
  await withArchive(c, (a) => printEnrollment(a, c, adminName(values)));
  return 0;
}

/** Serves as the data directory's one serving process: migrate refuses to run meanwhile (lock.ts). */
async function serveUntilSignal(a: Archive, c: Config): Promise<number> {
  const lock = lockDataDir(c.dataDir, 'serve');
  try {
    return await serveLockedUntilSignal(a, c);
  } finally {
    lock.release();
  }
}

async function serveLockedUntilSignal(a: Archive, c: Config): Promise<number> {
  const running = await startServer(a, c);
  out(`callvault is listening on ${running.url} (API under /api/v1, liveness at /healthz). Stop with Ctrl-C.`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  out('Shutting down: finishing requests in flight...');
  await running.close();
  return 0;
}

export async function serve(args: string[]): Promise<number> {
  const { values } = flags(args, { 'node-id': { type: 'string' } });
  const c = config(values);
  const a = await openArchive(c.dataDir, c);
  try {
    return await serveUntilSignal(a, c);
  } finally {
    await a.close();
  }
}

/** The newcomer's command: creates ./data on first run, then serves. */
export async function start(args: string[]): Promise<number> {
  const { values } = flags(args, {});
  const c = config(values, 'data');
  const created = isFreeForArchive(c.dataDir);
  if (created) {
    await initArchive(c.dataDir, c);
    out(`Created a new callvault archive in ${c.dataDir}.`);
  }
  const a = await openArchive(c.dataDir, c);
  try {
    // The lock first: a second start on an archive already served must not revoke the link the
    // first one printed.
    const lock = lockDataDir(c.dataDir, 'serve');
    try {
      if (!(await a.accounts.hasActiveUser())) {
        if (!created) out('No administrator has enrolled yet; here is a fresh link (earlier links no longer work).');
        await printEnrollment(a, c, 'admin');
      }
      out(`Ingest calls with an API key: npx callvault apikey create --data ${c.dataDir} --scope ingest --name pbx-1`);
      out(`Watch simulated live calls arrive: npx callvault simulate --url ${baseUrl(c)} --key KEY --calls 20 --concurrency 20 --duration 30`);
      return await serveLockedUntilSignal(a, c);
    } finally {
      lock.release();
    }
  } finally {
    await a.close();
  }
}

export async function apikey(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values } = flags(rest, { scope: { type: 'string' }, name: { type: 'string' }, allow: { type: 'string' }, rate: { type: 'string' } });
    if (!values.scope || !values.name) throw new UsageError('usage: callvault apikey create --data DIR --scope ingest --name NAME [--allow CIDR,...] [--rate N]');
    const c = config(values);
    const allow = typeof values.allow === 'string' ? values.allow.split(',') : undefined;
    const ratePerS = typeof values.rate === 'string' ? Number(values.rate) : undefined;
    const key = await withArchive(c, (a) => a.apiKeys.create({ name: String(values.name), scope: String(values.scope), actor: operator(), allow, ratePerS }));
    out(`Created API key ${key.id} (scope ${values.scope}). It is shown once and stored only as a hash; keep it secret:`);
    out(key.token);
    return 0;
  }
  if (sub === 'list') {
    const { values } = flags(rest, {});
    const c = config(values);
    const keys = await withArchive(c, (a) => a.apiKeys.list());
    for (const k of keys) {
      out(`${k.id}  ${k.scope.padEnd(8)} ${k.revokedAt ? 'revoked' : 'active '}  created ${new Date(k.createdAt).toISOString()}  ${k.name}` +
        `  from ${k.allow ? k.allow.join(',') : 'anywhere'}  ${k.ratePerS}/s`);
    }
    return 0;
  }
  if (sub === 'revoke') {
    const { values, positionals } = flags(rest, {}, 1);
    if (!positionals[0]) throw new UsageError('usage: callvault apikey revoke --data DIR KEY_ID');
    const c = config(values);
    const ok = await withArchive(c, (a) => a.apiKeys.revoke(positionals[0]!, operator()));
    if (!ok) {
      err(`no active API key ${positionals[0]}`);
      return 1;
    }
    out(`Revoked API key ${positionals[0]}.`);
    return 0;
  }
  throw new UsageError('usage: callvault apikey create|list|revoke --data DIR ...');
}

export async function exportVerb(args: string[]): Promise<number> {
  const { values, positionals } = flags(args, { out: { type: 'string' } }, 1);
  const id = positionals[0];
  if (!id || !values.out) throw new UsageError('usage: callvault export --data DIR RECORDING_ID --out FILE');
  if (!isId(id)) throw new UsageError('a recording id is 32 lowercase hex characters');
  const c = config(values);
  const bytes = await withArchive(c, (a) => exportRecording(a, id, String(values.out), operator()));
  out(`Wrote ${bytes} bytes to ${values.out}: a standard age file; decrypt it with: age -d -i ${c.dataDir}/keys/archive-identity.txt ${values.out}`);
  return 0;
}

/** callvault seed --calls N: a synthetic catalog (metadata only) for benchmarks and demos. */
export async function seed(args: string[]): Promise<number> {
  const { values } = flags(args, { calls: { type: 'string' }, days: { type: 'string' } });
  // Digits only: Number() would take 1e3 and 0x10 too.
  const whole = (v: string | boolean | undefined) => (typeof v === 'string' && /^[1-9][0-9]{0,15}$/.test(v) ? Number(v) : Number.NaN);
  const calls = whole(values.calls);
  const days = values.days === undefined ? undefined : whole(values.days);
  if (!Number.isSafeInteger(calls) || calls < 1 || calls > 100_000_000) throw new UsageError('usage: callvault seed --data DIR --calls N [--days D]  (N from 1 to 100000000)');
  if (days !== undefined && (!Number.isSafeInteger(days) || days < 1 || days > 36_500)) throw new UsageError('--days is a whole number of days, 1 to 36500');
  const c = config(values);
  return withArchive(c, async (a) => {
    const tty = process.stdout.isTTY;
    const r = await seedCatalog(a.db, a.blindIndex, {
      calls, days,
      onProgress: (done) => { if (tty) process.stdout.write(`\rseeded ${done.toLocaleString('en')} of ${calls.toLocaleString('en')} calls`); },
    });
    if (tty) process.stdout.write('\n');
    await a.audit.record({ action: 'catalog.seeded', actor: operator(), outcome: 'success', details: { calls: r.calls } });
    out(`Seeded ${r.calls} synthetic calls (metadata only, flagged synthetic) in ${r.seconds.toFixed(1)} s: ${Math.round(r.calls / r.seconds)} calls/s.`);
    return 0;
  });
}

/** Erases the recordings past their retention period now (the server does so every hour); --dry-run only counts them. */
export async function retention(args: string[]): Promise<number> {
  const { values } = flags(args, { 'dry-run': { type: 'boolean' } });
  const c = config(values);
  const rules = retentionOf(c);
  const periods = retentionRules(rules);
  if (periods.length === 0) {
    throw new UsageError('no retention period is set: set CALLVAULT_RETENTION_DAYS (every care unit) and/or CALLVAULT_RETENTION_BY_UNIT (UNIT=DAYS,...)');
  }
  return withArchive(c, async (a) => {
    const purge = createPurge({ db: a.db, store: a.store, onError: (what, e) => err(`${what} failed: ${(e as Error).message}`) });
    const job = createRetention({ db: a.db, audit: a.audit, purge, rules, actor: operator() });
    const dry = values['dry-run'] === true;
    const r = dry ? await job.due() : await job.run();
    if (r.elsewhere) {
      err('another node is running retention now (PostgreSQL): nothing was done here; run this again once it is over');
      return 1;
    }
    for (const unit of await job.unknownUnits()) out(`care unit ${unit} holds no recording: check its spelling in CALLVAULT_RETENTION_BY_UNIT (a misspelt unit is kept for the default period).`);
    for (const rule of periods) {
      const n = r.erased[rule.unit ?? '*'] ?? 0;
      out(`${rule.unit === null ? 'every other care unit' : `care unit ${rule.unit}`} (${rule.days} days): ${n} recording${n === 1 ? '' : 's'} ${dry ? 'past the period' : 'erased'}`);
    }
    if (r.held > 0) out(`${r.held} recording${r.held === 1 ? ' is' : 's are'} past the period but under legal hold: kept until the hold is released.`);
    if (!dry) {
      const left = await purge.pending(); // the run deleted what the store would take
      if (left > 0) out(`${left} object${left === 1 ? '' : 's'} of erased recordings could not be deleted yet (their keys are gone); the server retries every minute.`);
    }
    return 0;
  });
}

export async function openapi(args: string[]): Promise<number> {
  flags(args, {});
  const doc = buildOpenApi(describeRoutes());
  out(JSON.stringify(doc, null, 2));
  return 0;
}

export { simulate } from '../simulate/verb.ts';
export { user } from './user-verb.ts';
export { migrate } from './migrate-verb.ts';

/** callvault audit verify | proof SEQ | checkpoint */
export async function audit(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'extract') return auditExtract(rest);
  const { values, positionals } = flags(rest, {}, sub === 'proof' ? 1 : 0);
  const c = config(values);
  return withArchive(c, async (a) => {
    const origin = logOrigin(a.keys.archiveRecipient);
    if (sub === 'verify') {
      const witness = await openWitness(witnessOf(c));
      try {
        const report = await verifyAuditLog({ db: a.db, vkey: auditVerifierKey(origin, a.keys.auditSigningKey()), witness });
        out(`audit log: ${report.entries} entries (re-hashed ${report.chunks === 0 ? 'in one pass' : `in ${report.chunks} chunks by ${report.threads} thread(s)`}); ${report.checkpoints} checkpoints in the catalog, ${report.witnessed} in the witness ${witness.describe()}`);
        if (report.problems.length === 0) {
          out(report.latest ? `verified: every entry matches its hash and every checkpoint up to size ${report.latest.size}` : 'verified: every entry matches its hash (no checkpoint yet)');
          return 0;
        }
        for (const p of report.problems) err(`FAILED: ${p}`);
        return 1;
      } finally {
        await witness.close();
      }
    }
    if (sub === 'proof') {
      const seq = /^[1-9]\d{0,15}$/.test(positionals[0] ?? '') ? Number(positionals[0]) : NaN;
      if (!Number.isSafeInteger(seq)) throw new UsageError('usage: callvault audit proof --data DIR SEQ (a sequence number: 1, 2, 3...)');
      const proof = await proveEntry(a.db, seq);
      if (!proof) {
        err(`no audit entry ${seq}`);
        return 1;
      }
      out(JSON.stringify(proof, null, 2));
      return 0;
    }
    if (sub === 'alerts') {
      const rows = await a.db.selectFrom('audit_alerts').selectAll().orderBy('id').execute();
      for (const r of rows) out(`${new Date(r.at).toISOString()}  ${r.rule.padEnd(22)} ${r.actor_type}:${r.actor_id ?? '-'}  ${r.summary}`);
      if (rows.length === 0) out('no alerts');
      return 0;
    }
    if (sub === 'checkpoint') {
      const witness = await openWitness(witnessOf(c));
      try {
        const cp = await createCheckpointer({ db: a.db, signingKey: a.keys.auditSigningKey(), origin, witness }).checkpoint();
        out(cp ? `signed a checkpoint of ${cp.size} entries:\n${cp.note}` : 'nothing new since the last checkpoint');
        return 0;
      } catch (e) {
        if (!(e instanceof WitnessError)) throw e;
        err(`callvault: ${e.message}${e instanceof WitnessConflictError ? '' : '; the catalog keeps the checkpoint, and the next round (or this command again) copies it'}`);
        return 1;
      } finally {
        await witness.close();
      }
    }
    throw new UsageError('usage: callvault audit verify|proof SEQ|checkpoint|extract|alerts --data DIR ...');
  });
}

/** callvault audit-extract: a patient's log extract, by phone number or personnummer. */
export async function auditExtract(args: string[]): Promise<number> {
  const { values } = flags(args, { phone: { type: 'string' }, personnummer: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } });
  if ((values.phone === undefined) === (values.personnummer === undefined)) {
    throw new UsageError('usage: callvault audit extract --data DIR (--phone NUMBER | --personnummer YYYYMMDD-NNNC) [--format json|html] [--out FILE]');
  }
  const format = String(values.format ?? 'json');
  if (format !== 'json' && format !== 'html') throw new UsageError('--format is json or html');
  const c = config(values);
  return withArchive(c, async (a) => {
    let patient: Patient;
    try {
      patient = patientOf(a.blindIndex, typeof values.phone === 'string' ? { phone: values.phone } : { personnummer: String(values.personnummer) });
    } catch (e) {
      if (e instanceof PhoneNumberError || e instanceof PersonnummerError) {
        err(`callvault: ${e.message}`);
        return 1;
      }
      throw e;
    }
    const { pseudonym, subject } = patient;
    // The file is made first (never over another): an extract that cannot be written is not produced, nor audited as such.
    const file = typeof values.out === 'string' ? values.out : null;
    let fh: FileHandle | null = null;
    if (file !== null) {
      try {
        fh = await openNewFile(file);
      } catch (e) {
        if (!(e instanceof NewFileError)) throw e;
        err(`callvault: ${e.message}`);
        return 1;
      }
    }
    try {
      const entries = await patientExtract(a.db, patient, { showUsers: true });
      const event = { action: 'audit.extract_produced', actor: operator(), patientPseudonym: pseudonym } as const;
      await a.audit.record({ ...event, outcome: 'success', details: { entries: entries.length, format } });
      const producedAt = new Date().toISOString();
      const text = format === 'json' ? `${JSON.stringify({ producedAt, subject, entries }, null, 2)}\n` : extractHtml(entries, { producedAt, subject });
      try {
        if (fh !== null) {
          await writeAll(fh, Buffer.from(text));
          await fh.sync();
        } else {
          await writeOut(text);
        }
      } catch (e) {
        // The log says the extract was not produced after all.
        await a.audit.record({ ...event, outcome: 'failure', details: { entries: entries.length, format, error: writeFailure(e) } });
        err(`callvault: cannot write ${file ?? 'the extract to standard output'}: ${writeFailure(e)}${file ? '; the part written was removed' : ''}`);
        return 1;
      }
      if (fh !== null) {
        await fh.close();
        fh = null;
        out(`Wrote a log extract of ${entries.length} entries to ${file}.`);
      }
      return 0;
    } finally {
      if (fh !== null) {
        // Not written whole: nothing is left that could pass for the extract.
        await fh.close();
        await rm(file!, { force: true });
      }
    }
  });
}

