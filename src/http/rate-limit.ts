// A small fixed-window limiter kept in memory, per key (source address, username...).
export interface RateLimiter {
  /** Counts one hit; returns the seconds to wait when over the limit, else 0. */
  hit(key: string): number;
  /** Keys held now. */
  size(): number;
}

/**
 * Windows are kept in the order they started (a key whose window starts again moves to the end),
 * so the expired ones are always at the front: letting them go costs nothing per hit however
 * many keys are held. Before, a table of more than 10,000 live keys was scanned whole at every
 * hit, and grew without bound within a window: a flood from many addresses made every sign-in
 * slower than the last. At most `maxKeys` are held; past that the oldest window is let go (an
 * address then starts afresh, which only a sender of more addresses than that can bring about).
 */
export function createRateLimiter(opts: { limit: number; windowMs: number; now?: () => number; maxKeys?: number }): RateLimiter {
  const now = opts.now ?? Date.now;
  const maxKeys = opts.maxKeys ?? 100_000;
  const windows = new Map<string, { start: number; count: number }>();
  return {
    hit(key) {
      const t = now();
      for (const [k, w] of windows) {
        if (t - w.start < opts.windowMs && windows.size < maxKeys) break;
        windows.delete(k);
      }
      let w = windows.get(key);
      // (Expired windows left behind a later one, should the clock have stepped back, start afresh here.)
      if (!w || t - w.start >= opts.windowMs) {
        windows.delete(key);
        w = { start: t, count: 0 };
        windows.set(key, w);
      }
      w.count++;
      return w.count > opts.limit ? Math.ceil((w.start + opts.windowMs - t) / 1000) : 0;
    },
    size: () => windows.size,
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
  // In the order of their last event (a key written again moves to the end). A key's unwritten
  // count outlives its window until its next refusal, so keys go only when the table is full,
  // the oldest first: memory stays bounded under a flood from more addresses than that, at the
  // cost of those oldest counts (never of an event), and at no cost per refusal.
  const keys = new Map<string, { at: number; unwritten: number }>();
  return {
    take(key) {
      const t = now();
      const last = keys.get(key);
      if (last && t - last.at < opts.windowMs) {
        last.unwritten++;
        return 0;
      }
      keys.delete(key);
      for (const k of keys.keys()) {
        if (keys.size < maxKeys) break;
        keys.delete(k);
      }
      keys.set(key, { at: t, unwritten: 0 });
      return (last?.unwritten ?? 0) + 1;
    },
  };
}
