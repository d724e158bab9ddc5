// A blob store that fails in the middle of a live call: no acknowledged byte is lost.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describe, it } from 'node:test';
import { makeWav, sineWaveS16 } from '../src/ingest/wav.ts';
import { decryptedAudio, ingestKey, reopenServer, startTestServer } from './helpers/archive.ts';
import { releaseTestArchivesUnder } from './helpers/catalog.ts';
import { metaHeader, recordingIdOf, tusCreate, tusHead, tusPatch } from './helpers/tus.ts';

const META = { startedAt: '2026-11-25T08:00:00Z', direction: 'inbound', careUnit: 'unit-a' };
const monoWav = (seconds: number) => makeWav({ codec: 'pcm_s16le', sampleRate: 8000, channels: 1, samples: sineWaveS16({ sampleRate: 8000, seconds, hz: 440 }) });
const patch = (s: { url: string }, key: string, id: string, offset: number, body: Uint8Array, headers: Record<string, string> = {}) => tusPatch(s.url, key, id, offset, body, headers);
const head = (s: { url: string }, key: string, id: string) => tusHead(s.url, key, id);

async function createOk(s: { url: string }, key: string, length: number): Promise<string> {
  const res = await tusCreate(s.url, key, { 'upload-length': String(length), 'upload-metadata': metaHeader(META) });
  assert.equal(res.status, 201, await res.text());
  return recordingIdOf(res.headers.get('location')!);
}

async function jsonError(res: Response, status: number, pattern: RegExp): Promise<void> {
  const body = await res.text();
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${body}`);
  assert.match((JSON.parse(body) as { error: string }).error, pattern);
}

describe('a blob store that fails in the middle of a call', () => {
  it('keeps every acknowledged byte: the call is set aside (503), then filed at the next start and can go on', async () => {
    const s = await startTestServer();
    const root = dirname(s.dir);
    let open = true;
    try {
      const key = await ingestKey(s);
      // Fault injection around the real local store (a failing disk cannot be had on demand):
      // once `failing` is set, every write of the call's writer fails.
      let failing = false;
      const store = s.archive.store;
      const realCreate = store.create.bind(store);
      store.create = async (...args: Parameters<typeof store.create>) => {
        const w = await realCreate(...args);
        const realWrite = w.write.bind(w);
        w.write = (data) => (failing ? Promise.reject(new Error('EIO: i/o error (injected)')) : realWrite(data));
        return w;
      };
      const wav = monoWav(30);
      const id = await createOk(s, key, wav.length);
      const acked = 3 * 64 * 1024 + 1000;
      assert.equal((await patch(s, key, id, 0, wav.subarray(0, acked))).status, 204);
      failing = true;
      const refused = await patch(s, key, id, acked, wav.subarray(acked, acked + 2 * 64 * 1024));
      await jsonError(refused, 503, /kept up to its last acknowledged byte/);
      assert.equal((await head(s, key, id)).status, 503, 'HEAD says the same, not 404');
      assert.equal(await s.archive.db.selectFrom('uploads').select('id').where('id', '=', id).executeTakeFirst().then((r) => r?.id), id, 'its catalog row is kept');
      open = false;
      await s.running.close();
      await s.archive.close();
      const again = await reopenServer(s.dir);
      try {
        assert.deepEqual(again.running.recovery.recovered.map((r) => r.id), [id]);
        const r = (await again.archive.recordings.get(id))!;
        assert.equal(r.plaintext_size, acked);
        assert.deepEqual(JSON.parse(r.flags), ['interrupted_by_shutdown']);
        // Buffers compared with equals(): a failing deepEqual of large buffers builds a huge diff.
        assert.ok((await decryptedAudio(again.archive, id)).equals(wav.subarray(0, acked)), 'every acknowledged byte, nothing else');
        const rest = await patch({ url: again.url }, key, id, acked, wav.subarray(acked), { 'upload-length': String(wav.length) });
        assert.equal(rest.status, 204, await rest.text());
        const done = (await again.archive.recordings.get(id))!;
        assert.deepEqual(JSON.parse(done.flags), ['resumed_after_crash']);
        assert.ok((await decryptedAudio(again.archive, id)).equals(wav), 'and the call went on to its end');
      } finally {
        await again.close();
      }
    } finally {
      if (open) await s.close();
      await releaseTestArchivesUnder(root);
      await rm(root, { recursive: true, force: true });
    }
  });
});
