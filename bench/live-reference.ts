// The reference for bench:live and the end-to-end test of the load generator: the tus project's
// own Node.js server (@tus/server) with its plain FileStore (no encryption, no fsync, a JSON
// sidecar per upload), behind a bearer-key check so it does the same little auth work per request.
//
// As a process: node bench/live-reference.ts --dir DIR --key KEY [--port 0]
// prints "LISTENING <port>" once ready and stops on SIGTERM/SIGINT.
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';

export const UPLOADS_PATH = '/api/v1/uploads';

export interface TusReference {
  url: string;
  port: number;
  server: HttpServer;
  close(): Promise<void>;
}

export async function startTusReference(opts: { directory: string; key: string; port?: number }): Promise<TusReference> {
  const tus = new Server({ path: UPLOADS_PATH, datastore: new FileStore({ directory: opts.directory }), relativeLocation: true });
  const expected = `Bearer ${opts.key}`;
  const server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'text/plain', 'tus-resumable': '1.0.0' }).end('unauthorized\n');
      req.resume();
      return;
    }
    tus.handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
      else {
        process.stderr.write(`reference server: request failed after its headers were sent: ${String(e)}\n`);
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 65_000; // as callvault's server: idle keep-alive sockets stay up between PATCHes
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, port, server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { dir: { type: 'string' }, key: { type: 'string' }, port: { type: 'string', default: '0' } } });
  if (!values.dir || !values.key) {
    console.error('usage: node bench/live-reference.ts --dir DIR --key KEY [--port PORT]');
    process.exit(2);
  }
  const ref = await startTusReference({ directory: values.dir, key: values.key, port: Number(values.port) });
  console.log(`LISTENING ${ref.port}`);
  const stop = () => void ref.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
