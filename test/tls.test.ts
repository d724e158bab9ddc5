// With a certificate and key, callvault serves HTTPS (and may then listen beyond loopback).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type Serving, startServing, tempRoot } from './helpers/cli.ts';
import { releaseTestArchive } from './helpers/catalog.ts';

function get(url: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    }).on('error', reject).end();
  });
}

describe('TLS', () => {
  let server: Serving;
  let port: number;
  let data: string;
  before(async () => {
    const root = await tempRoot();
    data = join(root, 'data');
    const cert = join(root, 'cert.pem');
    const key = join(root, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    assert.equal((await runCli(['init', '--data', data])).code, 0);
    server = await startServing(['serve', '--data', data, '--tls-cert', cert, '--tls-key', key]);
    assert.match(server.url, /^https:\/\//);
    port = server.port;
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await releaseTestArchive(data);
  });

  it('serves HTTPS with HSTS', async () => {
    const res = await get(`https://127.0.0.1:${port}/healthz`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/);
  });

  it('does not answer plain HTTP on the same port', async () => {
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });
});
