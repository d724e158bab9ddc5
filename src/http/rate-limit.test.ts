import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEventSampler } from './rate-limit.ts';

describe('event sampler', () => {
  it('writes one event per key and window, counting the refusals it stands for', () => {
    let t = 0;
    const sampler = createEventSampler({ windowMs: 60_000, now: () => t });
    assert.equal(sampler.take('a'), 1);
    for (let i = 0; i < 4; i++) assert.equal(sampler.take('a'), 0);
    assert.equal(sampler.take('b'), 1, 'each key on its own');
    t = 59_999;
    assert.equal(sampler.take('a'), 0);
    t = 60_000;
    assert.equal(sampler.take('a'), 6, 'the five unwritten and this one');
    assert.equal(sampler.take('a'), 0);
    t = 200_000;
    assert.equal(sampler.take('a'), 2);
    assert.equal(sampler.take('b'), 1);
  });

  it('keeps a bounded number of keys', () => {
    let t = 0;
    const sampler = createEventSampler({ windowMs: 60_000, now: () => t, maxKeys: 3 });
    for (const k of ['a', 'b', 'c']) assert.equal(sampler.take(k), 1);
    assert.equal(sampler.take('d'), 1, 'a new key is written even when the table is full');
    t = 1;
    assert.equal(sampler.take('d'), 0);
  });
});
