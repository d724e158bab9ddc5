// Which blob store an archive uses is fixed when it is created, and recorded in DATA/callvault.json
// ("blobs": "fs" or "s3"): an archive on S3 takes calls over tus and plays them back through the
// real server with its recordings in the bucket only, and a mismatch is refused, naming the setting.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ArchiveError, initArchive, openArchive } from '../src/cli/archive.ts';
import { startServer } from '../src/cli/server.ts';
import { ConfigError, loadConfig } from '../src/config/config.ts';
import { makeWav, sineWaveS16 } from '../src/ingest/wav.ts';
import { startTestS3, type TestS3, TEST_S3_ENV, testBucketUrl } from '../src/store/test-s3-server.ts';
import { enrollSupervisor, ingestKey, signIn, type TestServer } from './helpers/archive.ts';
import { catalogFor, databaseUrlOf, releaseTestArchivesUnder } from './helpers/catalog.ts';
import { runCli, tempRoot } from './helpers/cli.ts';
import { recordingIdOf, tusUpload } from './helpers/tus.ts';

describe('an archive keeps the blob store it was created with', () => {
  let root: string;
  let s3: TestS3;
  let blobUrl: string;
  const saved = { ...process.env };
  before(async () => {
    root = await tempRoot('callvault-blob-choice-');
    s3 = await startTestS3();
    blobUrl = testBucketUrl(s3, 'archive-a');
    // The AWS SDK's standard variables, as an operator would set them (and no instance metadata lookups).
    Object.assign(process.env, TEST_S3_ENV);
  });
  after(async () => {
    process.env = saved;
    await releaseTestArchivesUnder(root);
    await s3.close();
    await rm(root, { recursive: true, force: true });
  });

  it('takes a WAV over tus into the bucket and plays it back through the server', async () => {
    const dir = join(root, 'on-s3');
    await initArchive(dir, { ...(await catalogFor(dir)), blobUrl });
    const marker = JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')) as { blobs: string };
    assert.equal(marker.blobs, 's3');
    assert.ok(!existsSync(join(dir, 'blobs')), 'no local blob folder beside an S3 one');
    const archive = await openArchive(dir, { databaseUrl: databaseUrlOf(dir), blobUrl });
    const running = await startServer(archive, loadConfig({ data: dir, listen: '127.0.0.1:0' }, {}), new Writable({ write(_c, _e, cb) { cb(); } }), {});
    try {
      const addr = running.app.server.address();
      if (!addr || typeof addr === 'string') throw new Error('server has no address');
      const s = { url: `http://127.0.0.1:${addr.port}`, dir, archive } as TestServer;
      const wav = makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, samples: sineWaveS16({ sampleRate: 8000, seconds: 5, hz: 440 }) });
      const key = await ingestKey(s);
      const id = recordingIdOf(await tusUpload(s.url, key, wav, { startedAt: '2026-11-25T08:30:00+01:00', direction: 'inbound', careUnit: '1177' }, { chunkSize: 20_000 }));
      const session = await signIn(s, await enrollSupervisor(s));
      const whole = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie } });
      assert.equal(whole.status, 200);
      assert.ok(Buffer.from(await whole.arrayBuffer()).equals(wav), 'the exact bytes, from the bucket');
      const part = await fetch(`${s.url}/api/v1/recordings/${id}/audio`, { headers: { cookie: session.cookie, range: 'bytes=1000-1999' } });
      assert.equal(part.status, 206);
      assert.ok(Buffer.from(await part.arrayBuffer()).equals(wav.subarray(1000, 2000)));
      const keys: string[] = [];
      for await (const k of archive.store.list()) keys.push(k);
      assert.equal(keys.length, 1, 'the sealed payload is in the bucket');
    } finally {
      await running.close();
      await archive.close();
    }

    await assert.rejects(openArchive(dir, { databaseUrl: databaseUrlOf(dir) }),
      (e: Error) => e instanceof ArchiveError && /keeps its recordings in an S3-compatible bucket; give it with --blob-url or CALLVAULT_BLOB_URL/.test(e.message));
  });

  it('refuses a local archive with an S3 bucket, and the command says which setting', async () => {
    const dir = join(root, 'on-fs');
    await initArchive(dir, await catalogFor(dir));
    const marker = JSON.parse(await readFile(join(dir, 'callvault.json'), 'utf8')) as { blobs: string };
    assert.equal(marker.blobs, 'fs');
    await assert.rejects(openArchive(dir, { databaseUrl: databaseUrlOf(dir), blobUrl }),
      (e: Error) => e instanceof ArchiveError && /keeps its recordings in the local blob store/.test(e.message) && /stays with the blob store it was created with/.test(e.message));
    const env = { ...TEST_S3_ENV };
    const r = await runCli(['apikey', 'list', '--data', dir, '--blob-url', blobUrl], { env: { ...env, ...(databaseUrlOf(dir) ? { CALLVAULT_DATABASE_URL: databaseUrlOf(dir)! } : {}) } });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /keeps its recordings in the local blob store/);
  });

  it('the configuration takes an s3:// URL only, never credentials in it, https beyond loopback', () => {
    assert.equal(loadConfig({ data: '/tmp/x' }, {}).blobUrl, undefined);
    assert.equal(loadConfig({ data: '/tmp/x' }, { CALLVAULT_BLOB_URL: '' }).blobUrl, undefined);
    const ok = 's3://recordings/site-1?endpoint=https://minio.internal:9000&region=eu-north-1&forcePathStyle=true';
    assert.equal(loadConfig({ data: '/tmp/x' }, { CALLVAULT_BLOB_URL: ok }).blobUrl, ok);
    assert.equal(loadConfig({ data: '/tmp/x', 'blob-url': 's3://a-bucket' }, { CALLVAULT_BLOB_URL: ok }).blobUrl, 's3://a-bucket');
    for (const [bad, why] of [
      ['s3://AKIA:pw-x@recordings', /must not carry credentials/],
      ['s3://recordings?endpoint=http://minio.internal:9000', /must be https/],
      ['s3://recordings?endpoint=https://u:pw-x@minio.internal', /carrying credentials/],
      ['https://recordings/pw-x', /must start with s3:\/\//],
      ['s3://Bad_Bucket', /must name a bucket/],
      ['s3://recordings?secret=pw-x', /unknown setting/],
      ['s3://recordings/pw-x$', /prefix/],
    ] as const) {
      assert.throws(() => loadConfig({ data: '/tmp/x' }, { CALLVAULT_BLOB_URL: bad }),
        (e: Error) => e instanceof ConfigError && /CALLVAULT_BLOB_URL/.test(e.message) && why.test(e.message) && !e.message.includes('pw-x'), bad);
    }
  });
});
