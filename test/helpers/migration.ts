// An archive worth migrating: real recordings uploaded over tus and sealed, people enrolled,
// plays and sign-ins in the audit log and a signed checkpoint (catalog and witness), closed.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before } from 'node:test';
import { dirname, join } from 'node:path';
import { openArchive, type CatalogChoice } from '../../src/cli/archive.ts';
import { makeWav, sineWaveS16 } from '../../src/ingest/wav.ts';
import { enrollSupervisor, ingestKey, serveOnLoopback, signIn, startTestServer, type Person, type ServedArchive } from './archive.ts';
import { copyTestArchive, createTestDatabase, dropTestDatabase, releaseTestArchive, releaseTestArchivesUnder } from './catalog.ts';
import { startTestS3, TEST_S3_ENV, type TestS3 } from '../../src/store/test-s3-server.ts';
import { recordingIdOf, tusUpload } from './tus.ts';

export interface Pristine {
  dir: string;
  /** Recording id -> the WAV uploaded. */
  wavs: Map<string, Buffer>;
  /** A supervisor who has not signed in yet (a TOTP step is accepted once per person). */
  listener: Person;
}

export async function buildArchive(root: string): Promise<Pristine> {
  const s = await startTestServer();
  const wavs = new Map<string, Buffer>();
  const key = await ingestKey(s);
  const first = await enrollSupervisor(s, 'nurse');
  const listener = await enrollSupervisor(s, 'nurse2');
  for (const [i, seconds] of [2, 11, 1].entries()) {
    const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, samples: sineWaveS16({ sampleRate: 8000, seconds, hz: 300 + 100 * i }) });
    const url = await tusUpload(s.url, key, wav, { startedAt: `2026-11-2${i}T08:30:00+01:00`, direction: 'inbound', careUnit: `unit-${i}`, caller: `070-123 45 6${i}` }, { chunkSize: 64_000 });
    wavs.set(recordingIdOf(url), wav);
  }
  const session = await signIn(s, first);
  for (const id of wavs.keys()) {
    const res = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
    await res.arrayBuffer();
  }
  await s.running.checkpointer.checkpoint();
  // Closing signs a checkpoint of the last entries too.
  await s.running.close();
  await s.archive.close();
  const dir = join(root, 'pristine');
  await copyTestArchive(s.dir, dir);
  await cp(`${s.dir}-witness`, `${dir}-witness`, { recursive: true });
  await releaseTestArchive(s.dir);
  await rm(dirname(s.dir), { recursive: true, force: true });
  return { dir, wavs, listener };
}

/** A copy of the pristine archive (directory, witness and catalog) at `root/name`. */
export async function copyOf(p: Pristine, root: string, name: string): Promise<string> {
  const dir = join(root, name);
  await copyTestArchive(p.dir, dir);
  await cp(`${p.dir}-witness`, `${dir}-witness`, { recursive: true });
  return dir;
}

const targets: string[] = [];

/** An empty PostgreSQL database to migrate into, dropped by dropTargets. */
export async function targetDatabase(): Promise<string> {
  const url = await createTestDatabase();
  targets.push(url);
  return url;
}

export async function dropTargets(): Promise<void> {
  for (const url of targets.splice(0)) await dropTestDatabase(url);
}

/** The archive in `dir` opened with its new catalog (and blob store) and served on loopback. */
export async function serveWith(dir: string, choice: CatalogChoice, logs?: string[]): Promise<ServedArchive> {
  return serveOnLoopback(dir, await openArchive(dir, choice), logs);
}

/**
 * For one describe block of migration tests: a temporary root, the pristine archive built once
 * in it, and an S3-compatible test server with its credentials in the environment; all of it
 * (and the target databases made meanwhile) removed after the block.
 */
export function migrationFixture(prefix: string): { readonly root: string; readonly pristine: Pristine; readonly s3: TestS3 } {
  const fx = {} as { root: string; pristine: Pristine; s3: TestS3 };
  const saved = { ...process.env };
  before(async () => {
    fx.root = await mkdtemp(join(tmpdir(), prefix));
    fx.s3 = await startTestS3();
    Object.assign(process.env, TEST_S3_ENV);
    fx.pristine = await buildArchive(fx.root);
  });
  after(async () => {
    process.env = saved;
    await dropTargets();
    await releaseTestArchivesUnder(fx.root);
    await fx.s3.close();
    await rm(fx.root, { recursive: true, force: true });
  });
  return fx;
}
