// A small fixed-window limiter kept in memory, per key (source address, username...).
export interface RateLimiter {
  /** Counts one hit; returns the seconds to wait when over the limit, else 0. */
  hit(key: string): number;
  /** Keys held now. */
  size(): number;
}

/**
 * Keys with a time each (a window's start, a key's last event), oldest first: the map answers a
 * key, and a queue beside it holds the keys in the order their times were set, so the oldest is
 * found and let go at no cost per call however many keys are held. (Iterating the map from its
 * front instead walks past every entry deleted since the table was last rebuilt: 36 us a call at
 * 100,000 keys.) A key set again goes to the back; its old place in the queue is skipped when
 * it comes to the front.
 */
class OldestFirst<V extends { at: number }> {
  readonly #map = new Map<string, V>();
  #queue: Array<[string, V]> = [];
  #head = 0;

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: V): void {
    this.#map.set(key, value);
    this.#queue.push([key, value]);
    // Places left behind by keys set again are cleared out once they outnumber the keys.
    if (this.#queue.length - this.#head > 2 * this.#map.size + 1024) {
      this.#queue = this.#queue.slice(this.#head).filter(([k, v]) => this.#map.get(k) === v);
      this.#head = 0;
    }
  }

  /** The oldest entry, or undefined when there is none. */
  oldest(): V | undefined {
    while (this.#head < this.#queue.length) {
      const [key, value] = this.#queue[this.#head]!;
      if (this.#map.get(key) === value) return value;
      this.#head++; // set again since, or let go
    }
    return undefined;
  }

  /** Lets the oldest entry go. */
  dropOldest(): void {
    if (this.oldest() === undefined) return;
    this.#map.delete(this.#queue[this.#head]![0]);
    this.#head++;
    // The queue is cut when more than half of it is behind the head.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}

/**
 * Windows are let go oldest first, at no cost per hit however many keys are held; at most
 * `maxKeys` are held: past that the oldest window goes (an address then starts afresh, which
 * only a sender of more addresses than that can bring about). Before, a table of more than
 * 10,000 live keys was scanned whole at every hit and grew without bound within a window: a
 * flood from many addresses made every sign-in slower than the last. Times are read from a
 * monotonic clock, so a step of the system clock neither ends nor stretches a window.
 */
export function createRateLimiter(opts: { limit: number; windowMs: number; now?: () => number; maxKeys?: number }): RateLimiter {
  const now = opts.now ?? (() => performance.now());
  const maxKeys = opts.maxKeys ?? 100_000;
  const windows = new OldestFirst<{ at: number; count: number }>();
  return {
    hit(key) {
      const t = now();
      for (let w = windows.oldest(); w !== undefined && (t - w.at >= opts.windowMs || windows.size >= maxKeys); w = windows.oldest()) windows.dropOldest();
      let w = windows.get(key);
      if (!w) {
        w = { at: t, count: 0 };
        windows.set(key, w);
      }
      w.count++;
      return w.count > opts.limit ? Math.ceil((w.at + opts.windowMs - t) / 1000) : 0;
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
  const now = opts.now ?? (() => performance.now());
  const maxKeys = opts.maxKeys ?? 100_000;
  // Oldest event first. A key's unwritten count outlives its window until its next refusal, so
  // keys go only when the table is full, the oldest first: memory stays bounded under a flood
  // from more addresses than that, at the cost of those oldest counts (never of an event).
  const keys = new OldestFirst<{ at: number; unwritten: number }>();
  return {
    take(key) {
      const t = now();
      const last = keys.get(key);
      if (last && t - last.at < opts.windowMs) {
        last.unwritten++;
        return 0;
      }
      while (keys.size >= maxKeys && keys.get(key) === undefined) keys.dropOldest();
      keys.set(key, { at: t, unwritten: 0 });
      return (last?.unwritten ?? 0) + 1;
    },
  };
}
