// Group commit: what is appended while a flush runs goes out together in the next flush, and
// each append resolves once the flush that carried it is durable: many acknowledgements, one
// fsync (file journal) or one transaction (catalog journal). Fail closed: once a flush fails,
// nothing more is accepted, and everything waiting is rejected. Work that must not overlap a
// flush (switching the file written to) runs between two flushes (between()).

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class GroupCommit<T> {
  readonly stats = { flushes: 0, records: 0 };
  #write: (batch: T[], bytes: number) => Promise<void>;
  #onFailure: (err: Error) => void;
  #pending: T[] = [];
  #bytes = 0;
  #waiters: Waiter[] = [];
  #between: Array<{ run: () => Promise<void>; reject: (err: Error) => void }> = [];
  #flushing = false;
  #failed: Error | null = null;

  /** `write` makes a batch durable; `onFailure` hears of the first failure (a flush's, or one given to fail()). */
  constructor(write: (batch: T[], bytes: number) => Promise<void>, onFailure: (err: Error) => void = () => undefined) {
    this.#write = write;
    this.#onFailure = onFailure;
  }

  /** Bytes waiting for the next flush. */
  get backlog(): number {
    return this.#bytes;
  }

  get failed(): Error | null {
    return this.#failed;
  }

  /** Resolves once `items` (and everything added before them) are durable. */
  add(items: readonly T[], bytes: number): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    for (const item of items) this.#pending.push(item);
    this.#bytes += bytes;
    const p = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    this.#schedule();
    return p;
  }

  /**
   * Runs `task` between two flushes: after the flush under way (if any) has finished and before
   * the next one starts, so that what it changes (the file written to) is never changed under a
   * flush. What is added meanwhile waits for the next flush. A task's failure is its own: it
   * rejects this call and flushing goes on.
   */
  between<R>(task: () => Promise<R>): Promise<R> {
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise<R>((resolve, reject) => {
      this.#between.push({ run: () => task().then(resolve, reject), reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(() => void this.#flush());
  }

  /** Resolves once everything added so far is durable. */
  sync(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#waiters.length === 0 && !this.#flushing) return Promise.resolve();
    return this.add([], 0);
  }

  /** Stops accepting anything, rejecting what waits. The first failure is the one reported. */
  fail(err: Error): void {
    const first = this.#failed === null;
    this.#failed ??= err;
    for (const w of this.#waiters) w.reject(this.#failed);
    this.#waiters = [];
    this.#pending = [];
    this.#bytes = 0;
    for (const t of this.#between) t.reject(this.#failed);
    this.#between = [];
    if (first) this.#onFailure(err);
  }

  async #flush(): Promise<void> {
    while ((this.#waiters.length > 0 || this.#between.length > 0) && !this.#failed) {
      const task = this.#between.shift();
      if (task) {
        await task.run();
        continue;
      }
      const batch = this.#pending;
      const waiters = this.#waiters;
      const bytes = this.#bytes;
      this.#pending = [];
      this.#waiters = [];
      this.#bytes = 0;
      try {
        await this.#write(batch, bytes);
      } catch (err) {
        this.#waiters.unshift(...waiters);
        this.fail(err as Error);
        break;
      }
      this.stats.flushes++;
      this.stats.records += batch.length;
      for (const w of waiters) w.resolve();
    }
    this.#flushing = false;
  }
}
