/**
 * Deadlines for many requests on one timer. A client's requests all get the same timeout, so their
 * deadlines fall in the order they began: the oldest is always first, and one timer, armed for it,
 * serves them all. This replaces a setTimeout + clearTimeout per request on the lean clients' hot
 * path; the timer fires at most once per `timeoutMs` per client, and never keeps the process alive.
 */
export interface Deadline {
  /** The request ended in time: forget it (O(1)). */
  clear(): void;
}

export interface Deadlines {
  /** `expire` runs once, `timeoutMs` from now, unless the returned deadline is cleared first. */
  start(expire: () => void): Deadline;
  /** Drops every deadline without running it. */
  stop(): void;
}

interface Entry extends Deadline {
  readonly due: number;
  readonly expire: () => void;
}

export function createDeadlines(timeoutMs: number): Deadlines {
  const pending = new Set<Entry>(); // in insertion order, which is deadline order
  let timer: NodeJS.Timeout | undefined;

  function arm(): void {
    timer = undefined;
    const first = pending.values().next();
    if (first.done === true) return;
    timer = setTimeout(fire, Math.max(1, Math.ceil(first.value.due - performance.now())));
    timer.unref();
  }

  function fire(): void {
    const now = performance.now();
    for (const entry of pending) {
      if (entry.due > now) break;
      pending.delete(entry);
      entry.expire();
    }
    arm();
  }

  return {
    start(expire) {
      const entry: Entry = { due: performance.now() + timeoutMs, expire, clear: () => pending.delete(entry) };
      pending.add(entry);
      if (timer === undefined) arm();
      return entry;
    },
    stop() {
      pending.clear();
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
