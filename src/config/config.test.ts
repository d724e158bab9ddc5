import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConfigError, isLoopback, loadConfig } from './config.ts';

it('defaults to loopback on port 8750', () => {
  const c = loadConfig({ data: '/tmp/x' }, {});
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8750 });
});

it('knows loopback addresses', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '10.0.0.1', '::', '128.0.0.1', '127.0.0.256', 'example.org']) assert.ok(!isLoopback(h), h);
});

it('refuses a non-loopback address without TLS, and accepts it with both cert and key', () => {
  assert.throws(() => loadConfig({ data: '/tmp/x', listen: '0.0.0.0:8750' }, {}), (e: Error) => e instanceof ConfigError && /TLS/.test(e.message) && /loopback/.test(e.message));
  assert.throws(() => loadConfig({ data: '/tmp/x', listen: '[::]:8750' }, {}), ConfigError);
  assert.throws(() => loadConfig({ data: '/tmp/x', listen: '0.0.0.0:8750', 'tls-cert': 'c.pem' }, {}), /both a certificate and a key/);
  assert.equal(loadConfig({ data: '/tmp/x', listen: '0.0.0.0:8750', 'tls-cert': 'c.pem', 'tls-key': 'k.pem' }, {}).listen.host, '0.0.0.0');
});

it('takes the environment, flags first, and names every problem', () => {
  assert.equal(loadConfig({}, { CALLVAULT_DATA: '/srv/cv' }).dataDir, '/srv/cv');
  assert.equal(loadConfig({ data: '/a' }, { CALLVAULT_DATA: '/b' }).dataDir, '/a');
  assert.throws(() => loadConfig({}, {}), /CALLVAULT_DATA/);
  assert.throws(() => loadConfig({ data: '/a', listen: 'nonsense' }, {}), /HOST:PORT/);
  assert.throws(() => loadConfig({ data: '/a', listen: '127.0.0.1:99999' }, {}), /HOST:PORT/);
  assert.throws(() => loadConfig({ data: '/a' }, { CALLVAULT_MAX_UPLOAD_BYTES: '-5' }), ConfigError);
});
