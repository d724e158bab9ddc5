// A small fixed-window limiter kept in memory, per key (source address, username...).
export interface RateLimiter {
  /** Counts one hit; returns the seconds to wait when over the limit, else 0. */
  hit(key: string): number;
}

export function createRateLimiter(opts: { limit: number; windowMs: number; now?: () => number }): RateLimiter {
  const now = opts.now ?? Date.now;
  const windows = new Map<string, { start: number; count: number }>();
  return {
    hit(key) {
      const t = now();
      if (windows.size > 10_000) {
        for (const [k, w] of windows) if (t - w.start >= opts.windowMs) windows.delete(k);
      }
      let w = windows.get(key);
      if (!w || t - w.start >= opts.windowMs) {
        w = { start: t, count: 0 };
        windows.set(key, w);
      }
      w.count++;
      return w.count > opts.limit ? Math.ceil((w.start + opts.windowMs - t) / 1000) : 0;
    },
  };
}

/**
 * Thins out the audit events of refusals anyone can repeat at will (anonymous requests,
 * throttled sign-ins), so that a flood cannot flood the audit log: at most one event per key
 * (address and route) and window. `take` counts one refusal and answers how many the event to
 * write now stands for (this one and those counted unwritten since the key's last event), or 0
 * when this one is only counted.
 */
export interface EventSampler {
  take(key: string): number;
}

export function createEventSampler(opts: { windowMs: number; now?: () => number; maxKeys?: number }): EventSampler {
  const now = opts.now ?? Date.now;
  const maxKeys = opts.maxKeys ?? 100_000;
  const keys = new Map<string, { at: number; unwritten: number }>();
  return {
    take(key) {
      const t = now();
      if (keys.size >= maxKeys) {
        for (const [k, w] of keys) if (t - w.at >= opts.windowMs) keys.delete(k);
        // Memory stays bounded under a flood from more addresses than that: counts are lost, events are not.
        if (keys.size >= maxKeys) keys.clear();
      }
      const last = keys.get(key);
      if (last && t - last.at < opts.windowMs) {
        last.unwritten++;
        return 0;
      }
      keys.set(key, { at: t, unwritten: 0 });
      return (last?.unwritten ?? 0) + 1;
    },
  };
}
