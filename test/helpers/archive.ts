// A real callvault archive and server on loopback, in a temporary directory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { base32Decode, totpCode } from '../../src/access/totp.ts';
import type { Role } from '../../src/access/policy.ts';
import type { Archive } from '../../src/cli/archive.ts';
import { startServer, type Running } from '../../src/cli/server.ts';
import { loadConfig } from '../../src/config/config.ts';
import { initTestArchive, openTestArchive, releaseTestArchive } from './catalog.ts';

export interface TestServer {
  url: string;
  dir: string;
  archive: Archive;
  running: Running;
  logs: string[];
  close(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}): Promise<TestServer> {
  const root = await mkdtemp(join(tmpdir(), 'callvault-test-'));
  const dir = join(root, 'data');
  await initTestArchive(dir); // SQLite, or a fresh PostgreSQL database (CALLVAULT_TEST_CATALOG=postgres)
  const archive = await openTestArchive(dir);
  const config = loadConfig({ data: dir, listen: '127.0.0.1:0' }, env);
  const logs: string[] = [];
  const logStream = new Writable({ write(chunk, _enc, cb) { logs.push(String(chunk)); cb(); } });
  const running = await startServer(archive, config, logStream, env);
  // Where to connect: the address listened on (running.url is the public URL where one is set).
  const addr = running.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('server has no address');
  return {
    url: `http://127.0.0.1:${addr.port}`, dir, archive, running, logs,
    async close() {
      await running.close();
      await archive.close();
      await releaseTestArchive(dir);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** The archive in `dir` opened again and served on loopback (a restart), logging nowhere. */
export async function reopenServer(dir: string): Promise<ServedArchive> {
  return serveOnLoopback(dir, await openTestArchive(dir));
}

export interface ServedArchive {
  archive: Archive;
  running: Running;
  url: string;
  close(): Promise<void>;
}

/** Serves an open archive on a free loopback port, logging into `logs` (or nowhere); close() stops it and closes the archive. */
export async function serveOnLoopback(dir: string, archive: Archive, logs?: string[]): Promise<ServedArchive> {
  const running = await startServer(archive, loadConfig({ data: dir, listen: '127.0.0.1:0' }, {}), new Writable({ write(c, _e, cb) { logs?.push(String(c)); cb(); } }), {});
  return {
    archive, running, url: running.url,
    async close() {
      await running.close();
      await archive.close();
    },
  };
}

export interface Person {
  username: string;
  password: string;
  totpSecret: Buffer;
}

export interface Assignment {
  roles: Role[];
  careUnits?: string[];
  agentId?: string | null;
}

/** Invites a person (as an operator would) and enrolls them through the public API, as they would. */
export async function enrollPerson(s: TestServer, username: string, a: Assignment): Promise<Person> {
  const { token } = await s.archive.users.invite({ username, roles: a.roles, careUnits: a.careUnits ?? [], agentId: a.agentId ?? null, actor: { type: 'operator', id: 'test' } });
  return enrollWithToken(s, username, token);
}

export async function enrollWithToken(s: TestServer, username: string, token: string): Promise<Person & { recoveryCodes: string[] }> {
  const started = await postJson(s, '/api/v1/enrollment/start', { token });
  if (started.status !== 200) throw new Error(`enrollment start: ${started.status}`);
  const { totpSecret } = (await started.json()) as { totpSecret: string };
  const secret = base32Decode(totpSecret);
  const password = 'correct horse battery staple';
  const done = await postJson(s, '/api/v1/enrollment/complete', { token, password, totpCode: totpCode(secret, Date.now()) });
  if (done.status !== 200) throw new Error(`enrollment complete: ${done.status} ${await done.text()}`);
  const { recoveryCodes } = (await done.json()) as { recoveryCodes: string[] };
  return { username, password, totpSecret: secret, recoveryCodes };
}

/** An administrator: manages users and keys, hears no audio. */
export function enrollAdmin(s: TestServer, username = 'admin'): Promise<Person> {
  return enrollPerson(s, username, { roles: ['administrator'] });
}

/** A supervisor of every care unit: lists and plays everything (the listener of most tests). */
export function enrollSupervisor(s: TestServer, username = 'nurse', careUnits: string[] = ['*']): Promise<Person> {
  return enrollPerson(s, username, { roles: ['supervisor'], careUnits });
}

export interface SessionCreds {
  cookie: string;
  csrf: string;
}

/**
 * Signs in with the code of the next 30-second step (enrollment used the current one, and a
 * used step is never accepted again): so, once per person and half-minute.
 */
export async function signIn(s: TestServer, p: Person): Promise<SessionCreds> {
  const code = totpCode(p.totpSecret, Date.now() + 30_000);
  const res = await postJson(s, '/api/v1/session', { username: p.username, password: p.password, totpCode: code });
  if (res.status !== 200) throw new Error(`sign-in: ${res.status} ${await res.text()}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const { csrfToken } = (await res.json()) as { csrfToken: string };
  return { cookie: setCookie.split(';')[0]!, csrf: csrfToken };
}

/** The sequence number of the newest audit event (0 for an empty log): events after it are what came next. */
export async function lastAuditSeq(a: Archive): Promise<number> {
  return Number((await a.db.selectFrom('audit_events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst())?.seq ?? 0);
}

export function postJson(s: TestServer, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(s.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

export async function ingestKey(s: TestServer, name = 'pbx-1'): Promise<string> {
  const { token } = await s.archive.apiKeys.create({ name, scope: 'ingest', actor: { type: 'operator', id: 'test' } });
  return token;
}

/** The plaintext audio of a filed recording, decrypted with the archive identity (as an operator could). */
export async function decryptedAudio(a: Archive, id: string): Promise<Buffer> {
  const { openRecording } = await import('../../src/seal/index.ts');
  const r = await a.recordings.get(id);
  if (!r) throw new Error(`no recording ${id}`);
  const opened = openRecording({ header: Buffer.from(r.header), identity: a.keys.archiveIdentity(), recordingId: id });
  const parts: Buffer[] = [];
  for await (const p of opened.readRange({ payloadSize: r.payload_size, start: 0, end: Infinity, read: (o, l) => a.store.read(r.blob_key, o, l) })) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

/** A request as a signed-in person: session cookie, CSRF token, and a JSON body if given. */
export function sendAs(s: TestServer, c: SessionCreds, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(s.url + path, {
    method, headers: { cookie: c.cookie, 'x-csrf-token': c.csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
