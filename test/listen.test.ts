// Where the server listens: a port already taken is refused with the reason, and everything
// the start had taken is let go (the archive can be served again at once); port 0 takes a port
// the system chooses, and the server reports it.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ListenError, startServer } from '../src/cli/server.ts';
import { loadConfig } from '../src/config/config.ts';
import type { Archive } from '../src/cli/archive.ts';
import { initTestArchive, openTestArchive, releaseTestArchive } from './helpers/catalog.ts';
import { openedBy, tempRoot } from './helpers/cli.ts';

const quiet = () => new Writable({ write(_c, _e, cb) { cb(); } });

/** Paths this process holds open under `dir`. */
const openUnder = (dir: string) => openedBy(process.pid).filter((target) => target.startsWith(`${dir}/`));

describe('listening', () => {
  let dir: string;
  let archive: Archive;
  before(async () => {
    dir = join(await tempRoot(), 'data');
    await initTestArchive(dir);
    archive = await openTestArchive(dir);
  });
  after(async () => {
    await archive.close();
    await releaseTestArchive(dir);
  });

  it('refuses a port in use with the reason, lets go of the journal, and serves again on the port the system gives', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    const before = openUnder(join(dir, 'ingest'));
    try {
      await assert.rejects(startServer(archive, loadConfig({ data: dir, listen: `127.0.0.1:${port}` }, {}), quiet(), {}), (err: unknown) => {
        assert.ok(err instanceof ListenError);
        assert.equal(err.code, 'EADDRINUSE');
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}: the address is already in use`));
        return true;
      });
    } finally {
      taken.close();
    }
    assert.deepEqual(openUnder(join(dir, 'ingest')), before, 'the ingest journal opened for the start is closed again');

    const running = await startServer(archive, loadConfig({ data: dir, listen: '127.0.0.1:0' }, {}), quiet(), {});
    try {
      const bound = (running.app.server.address() as AddressInfo).port;
      assert.notEqual(bound, 0);
      assert.equal(running.url, `http://127.0.0.1:${bound}`);
      assert.equal((await fetch(`${running.url}/healthz`)).status, 200);
    } finally {
      await running.close();
    }
  });

  it('reports the public URL when one is configured, whatever port it listens on', async () => {
    const running = await startServer(archive, loadConfig({ data: dir, listen: '127.0.0.1:0', 'public-url': 'https://vault.example.test/' }, {}), quiet(), {});
    try {
      assert.equal(running.url, 'https://vault.example.test');
    } finally {
      await running.close();
    }
  });
});
