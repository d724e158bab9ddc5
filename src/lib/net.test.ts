import assert from 'node:assert/strict';
import { it } from 'node:test';
import { canonicalAddress, CidrError, ipv4PrefixOf, parseCidr } from './net.ts';

it('writes every spelling of an address one way, takes off brackets and ports, and refuses what is no address', () => {
  const same: Array<[string, string]> = [
    ['198.51.100.7', '198.51.100.7'], ['198.51.100.7:53124', '198.51.100.7'], [' 198.51.100.7 ', '198.51.100.7'],
    ['::ffff:198.51.100.7', '198.51.100.7'], ['::FFFF:c633:6407', '198.51.100.7'], ['[::ffff:198.51.100.7]:443', '198.51.100.7'],
    ['2001:DB8:0:0::7', '2001:db8::7'], ['[2001:db8::7]:8443', '2001:db8::7'], ['2001:0db8::0007', '2001:db8::7'], ['fe80::1%eth0', 'fe80::1'], ['::1', '::1'],
  ];
  for (const [text, want] of same) assert.equal(canonicalAddress(text), want, text);
  for (const bad of ['', 'garbage', 'unknown', '198.51.100.7:port', '198.51.100', '01.2.3.4', '198.51.100.7, 10.0.0.1', '[2001:db8::7', '2001:db8::7:443:1:2:3:4:5', 'http://198.51.100.7']) {
    assert.equal(canonicalAddress(bad), null, bad);
  }
});

it('reads a range strictly, and says how much of IPv4 it covers', () => {
  assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  assert.deepEqual(parseCidr('2001:db8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' });
  assert.deepEqual(parseCidr('192.0.2.7'), { address: '192.0.2.7', prefix: 32, family: 'ipv4' });
  for (const bad of ['10.0.0.0/8/9', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08x', 'x/8', '']) assert.throws(() => parseCidr(bad), CidrError, bad);
  assert.equal(ipv4PrefixOf(parseCidr('10.0.0.0/8')), 8);
  assert.equal(ipv4PrefixOf(parseCidr('::ffff:10.0.0.0/104')), 8);
  assert.equal(ipv4PrefixOf(parseCidr('::ffff:0.0.0.0/96')), 0);
  assert.equal(ipv4PrefixOf(parseCidr('::/8')), 0, 'holds every IPv4-mapped address');
  assert.equal(ipv4PrefixOf(parseCidr('2001:db8::/32')), null);
});
