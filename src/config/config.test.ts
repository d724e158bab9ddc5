import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConfigError, describeWitness, isLoopback, loadConfig, witnessOf } from './config.ts';

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

it('takes the audit witness as a directory or an S3 URL, and refuses one inside or around the blob store', () => {
  const env = (witness: string, blobs?: string) => ({ CALLVAULT_AUDIT_WITNESS: witness, ...(blobs ? { CALLVAULT_BLOB_URL: blobs } : {}) });
  assert.deepEqual(witnessOf(loadConfig({ data: '/srv/cv/' }, {})), { kind: 'dir', dir: '/srv/cv-witness' });
  assert.deepEqual(witnessOf(loadConfig({ data: '/a' }, env(''))), { kind: 'dir', dir: '/a-witness' }, 'empty is unset');
  assert.deepEqual(witnessOf(loadConfig({ data: '/a', witness: '/mnt/worm' }, env('s3://elsewhere/x'))), { kind: 'dir', dir: '/mnt/worm' }, 'the flag wins');
  const s3 = witnessOf(loadConfig({ data: '/a' }, env('s3://vault/audit/witness?region=eu-north-1', 's3://vault/blobs')));
  assert.deepEqual(s3, { kind: 's3', location: { bucket: 'vault', prefix: 'audit/witness/', region: 'eu-north-1', forcePathStyle: false } });
  assert.equal(describeWitness(s3), 's3://vault/audit/witness/');
  for (const [witness, blobs] of [['s3://vault/blobs/witness', 's3://vault/blobs'], ['s3://vault', 's3://vault/blobs'], ['s3://vault/blobs', 's3://vault']]) {
    assert.throws(() => loadConfig({ data: '/a' }, env(witness!, blobs)), (e: Error) => e instanceof ConfigError && /overlaps the blob store/.test(e.message), witness);
  }
  // Another service's bucket of the same name is another bucket.
  assert.equal(witnessOf(loadConfig({ data: '/a' }, env('s3://vault/blobs?endpoint=https%3A%2F%2Fminio.internal', 's3://vault/blobs'))).kind, 's3');
  assert.throws(() => loadConfig({ data: '/a' }, env('s3://vault/w?endpoint=http%3A%2F%2Fminio.internal')), /CALLVAULT_AUDIT_WITNESS\) has an endpoint that must be https/);
  assert.throws(() => loadConfig({ data: '/a' }, env('ftp://vault/w')), /CALLVAULT_AUDIT_WITNESS\) must start with s3:\/\//);
});

it('takes retention periods, for every unit and per unit, and names what is wrong with them', () => {
  const c = loadConfig({ data: '/a' }, { CALLVAULT_RETENTION_DAYS: '730', CALLVAULT_RETENTION_BY_UNIT: ' Syd = 30 ,Barn och unga=3650,' });
  assert.equal(c.retentionDays, 730);
  assert.deepEqual(c.retentionByUnit, { Syd: 30, 'Barn och unga': 3650 });
  assert.equal(loadConfig({ data: '/a' }, {}).retentionDays, undefined, 'no period: kept until erased by hand');
  const refused = (env: Record<string, string>, pattern: RegExp) =>
    assert.throws(() => loadConfig({ data: '/a' }, env), (e: Error) => e instanceof ConfigError && pattern.test(e.message), JSON.stringify(env));
  refused({ CALLVAULT_RETENTION_DAYS: '0' }, /CALLVAULT_RETENTION_DAYS must be at least 1 day/);
  refused({ CALLVAULT_RETENTION_DAYS: '1.5' }, /CALLVAULT_RETENTION_DAYS must be a whole number of days/);
  refused({ CALLVAULT_RETENTION_DAYS: 'two years' }, /CALLVAULT_RETENTION_DAYS must be a whole number of days/);
  refused({ CALLVAULT_RETENTION_DAYS: '0x1E' }, /CALLVAULT_RETENTION_DAYS must be a whole number of days/);
  refused({ CALLVAULT_RETENTION_DAYS: '1e2' }, /CALLVAULT_RETENTION_DAYS must be a whole number of days/);
  refused({ CALLVAULT_RETENTION_BY_UNIT: 'Syd' }, /CALLVAULT_RETENTION_BY_UNIT .*"Syd" is not UNIT=DAYS/);
  refused({ CALLVAULT_RETENTION_BY_UNIT: 'Syd=0' }, /Syd: the period must be 1 to 36500 days/);
  refused({ CALLVAULT_RETENTION_BY_UNIT: 'Syd=30,Syd=60' }, /Syd is given twice/);
  refused({ CALLVAULT_RETENTION_BY_UNIT: 'Sy/d=30' }, /care unit "Sy\/d" must be/);
});

it('takes the trusted proxies as addresses and ranges, none by default, and refuses nonsense or a range of every address', () => {
  assert.deepEqual(loadConfig({ data: '/a' }, {}).trustedProxies, []);
  assert.deepEqual(loadConfig({ data: '/a' }, { CALLVAULT_TRUSTED_PROXIES: '' }).trustedProxies, [], 'empty is unset');
  assert.deepEqual(loadConfig({ data: '/a' }, { CALLVAULT_TRUSTED_PROXIES: ' 10.0.0.5, 10.0.1.0/24,fd00::/8 ' }).trustedProxies, ['10.0.0.5', '10.0.1.0/24', 'fd00::/8']);
  assert.deepEqual(loadConfig({ data: '/a' }, { CALLVAULT_TRUSTED_PROXIES: '10.0.0.0/8,::ffff:10.0.0.0/104,2001:db8::/32' }).trustedProxies, ['10.0.0.0/8', '::ffff:10.0.0.0/104', '2001:db8::/32']);
  for (const bad of ['lb.internal', '10.0.0.0/33', '10.0.0.5/', '10.0.0.0/8/9', '0.0.0.0/0', '::/0', '0.0.0.0/1,128.0.0.0/1', '::/1', '::ffff:0.0.0.0/96', '::ffff:0.0.0.0/100', '::/8']) {
    assert.throws(() => loadConfig({ data: '/a' }, { CALLVAULT_TRUSTED_PROXIES: bad }), (e: Error) => e instanceof ConfigError && /CALLVAULT_TRUSTED_PROXIES/.test(e.message), bad);
  }
});
