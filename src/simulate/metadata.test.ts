import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toE164 } from '../catalog/phone.ts';
import { callMetadataHeader, describeCall, encodeUploadMetadata, fictionalLandline, fictionalMobile } from './metadata.ts';

/** A lenient reading of Upload-Metadata, to check the encoder round-trips any key. */
function decodeUploadMetadata(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (header.trim() === '') return out;
  for (const pair of header.split(',')) {
    const [key, value = ''] = pair.trim().split(' ');
    out[key!] = Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

test('Upload-Metadata: "key base64" pairs joined by commas, empty values as the bare key', () => {
  const h = encodeUploadMetadata({ careUnit: 'Vårdcentral Åby', channels: 2, empty: '', skipped: undefined });
  assert.equal(h, `careUnit ${Buffer.from('Vårdcentral Åby').toString('base64')},channels Mg==,empty`);
  assert.deepEqual(decodeUploadMetadata(h), { careUnit: 'Vårdcentral Åby', channels: '2', empty: '' });
  assert.throws(() => encodeUploadMetadata({ 'bad key': 'x' }), TypeError);
  assert.throws(() => encodeUploadMetadata({ 'a,b': 'x' }), TypeError);
});

test('fictional numbers stay in the ranges reserved for fiction and are valid E.164', () => {
  for (let n = 0; n < 500; n++) {
    const m = fictionalMobile(n);
    const l = fictionalLandline(n);
    assert.equal(toE164(m), m);
    assert.equal(toE164(l), l);
    const mobile = Number(m.slice(-2));
    assert.ok(m.startsWith('+467017406') && mobile >= 5 && mobile <= 99, m);
    assert.ok(l.startsWith('+463139006'), l);
  }
});

test('a call description carries every key a live upload needs', () => {
  const startedAt = new Date('2026-11-25T08:30:00Z');
  const d = describeCall({ index: 4, runId: 'abcd', careUnit: 'Sim unit', codec: 'pcma', channels: 2, startedAt });
  assert.equal(d.direction, 'outbound'); // every fifth call goes out
  assert.equal(d.caller.startsWith('+463139006'), true);
  const meta = decodeUploadMetadata(callMetadataHeader(d));
  assert.deepEqual(Object.keys(meta).sort(), ['agentId', 'callId', 'callee', 'caller', 'careUnit', 'channels', 'codec', 'direction', 'sampleRate', 'startedAt']);
  assert.equal(meta.startedAt, '2026-11-25T08:30:00.000Z');
  assert.equal(meta.codec, 'pcma');
  assert.equal(meta.sampleRate, '8000');
  assert.equal(meta.channels, '2');
  assert.equal(meta.callId, 'sim-abcd-4');
  assert.match(meta.callId!, /^[\x21-\x7e]{1,128}$/);
  assert.match(meta.agentId!, /^[\p{L}\p{N}._:@-]{1,64}$/u);
  const inbound = describeCall({ index: 0, runId: 'abcd', careUnit: 'Sim unit', codec: 'pcmu', channels: 1, startedAt });
  assert.equal(inbound.direction, 'inbound');
  assert.ok(inbound.caller.startsWith('+467017406'));
});
