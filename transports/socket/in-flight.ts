/**
 * Requests awaiting replies on one connection, with deadlines checked by a single sweep timer
 * (one timer per connection, not one per request: a timer per request costs more than the
 * round trips it guards). Map order is send order, so the first entry is the oldest.
 */
import { HarnessError } from '../../harness/errors.js';

export interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: HarnessError) => void;
  readonly deadline: number;
  /** For streamed replies: called with each intermediate piece before the final one. */
  readonly onPart?: (part: T) => void;
}

export interface InFlight<T> {
  add(id: number, waiter: Omit<Waiter<T>, 'deadline'>): void;
  take(id: number): Waiter<T> | undefined;
  get(id: number): Waiter<T> | undefined;
  oldestId(): number | undefined;
  readonly size: number;
  /** Reject everything with `error` and stop the sweep. */
  failAll(error: HarnessError): void;
}

export function createInFlight<T>(timeoutMs: number, onTimeout: (error: HarnessError) => void): InFlight<T> {
  const waiters = new Map<number, Waiter<T>>();
  let sweep: NodeJS.Timeout | undefined;
  const sweepEveryMs = Math.max(5, Math.min(250, Math.floor(timeoutMs / 4)));

  const check = (): void => {
    const now = performance.now();
    for (const waiter of waiters.values()) {
      if (waiter.deadline <= now) {
        // The wire's order is lost once a reply is overdue, so the connection is given up whole.
        onTimeout(new HarnessError('TIMEOUT', `Expected a reply within ${timeoutMs} ms, got none`));
        return;
      }
      break; // later entries were sent later
    }
  };

  return {
    add(id, waiter) {
      waiters.set(id, { ...waiter, deadline: performance.now() + timeoutMs });
      if (sweep === undefined) {
        sweep = setInterval(check, sweepEveryMs);
        sweep.unref();
      }
    },
    take(id) {
      const waiter = waiters.get(id);
      if (waiter !== undefined) waiters.delete(id);
      if (waiters.size === 0 && sweep !== undefined) {
        clearInterval(sweep);
        sweep = undefined;
      }
      return waiter;
    },
    get(id) {
      return waiters.get(id);
    },
    oldestId() {
      for (const id of waiters.keys()) return id;
      return undefined;
    },
    get size() {
      return waiters.size;
    },
    failAll(error) {
      if (sweep !== undefined) clearInterval(sweep);
      sweep = undefined;
      const all = [...waiters.values()];
      waiters.clear();
      for (const waiter of all) waiter.reject(error);
    },
  };
}
