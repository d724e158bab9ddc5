// How long the event loop went without a turn: a synchronous stretch (the embedded catalog's
// driver, a long loop) stalls every request of the server in this process.

/** Starts watching; the returned function stops and gives the longest stall seen, in ms. */
export function watchEventLoop(everyMs = 5): () => number {
  let worst = 0;
  let last = Date.now();
  const tick = setInterval(() => {
    worst = Math.max(worst, Date.now() - last);
    last = Date.now();
  }, everyMs);
  return () => {
    clearInterval(tick);
    return Math.max(worst, Date.now() - last);
  };
}
