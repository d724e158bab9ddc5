import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEventSampler, createRateLimiter } from './rate-limit.ts';

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

describe('rate limiter', () => {
  it('limits each key to its count per window, and starts a key afresh after it', () => {
    let t = 0;
    const limiter = createRateLimiter({ limit: 3, windowMs: 60_000, now: () => t });
    for (let i = 0; i < 3; i++) assert.equal(limiter.hit('a'), 0);
    assert.equal(limiter.hit('a'), 60, 'the fourth waits for the window to end');
    assert.equal(limiter.hit('b'), 0, 'each key on its own');
    t = 30_000;
    assert.equal(limiter.hit('a'), 30);
    t = 60_000;
    assert.equal(limiter.hit('a'), 0, 'a new window');
  });

  it('keeps a bounded number of keys under a flood from many addresses, and still limits an address the flood does not crowd out', () => {
    let t = 0;
    const limiter = createRateLimiter({ limit: 5, windowMs: 60_000, now: () => t, maxKeys: 1000 });
    for (let i = 0; i < 5; i++) limiter.hit('203.0.113.7');
    // Within one window, more addresses than the table holds.
    for (let i = 0; i < 50_000; i++) {
      if (i === 500) assert.ok(limiter.hit('203.0.113.7') > 0, 'still limited while fewer addresses than the table holds came after it');
      t = i; // 50 s: all in one window
      limiter.hit(`2001:db8::${i.toString(16)}`);
    }
    assert.ok(limiter.size() <= 1000, `${limiter.size()} keys held`);
    t = 200_000;
    limiter.hit('x');
    assert.equal(limiter.size(), 1, 'expired windows are let go');
  });
});
