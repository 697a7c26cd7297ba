/**
 * Requests awaiting replies on one connection, with deadlines checked by a single sweep timer.
 * The timer is armed when a request is added and none is armed, and re-arms itself only while
 * requests are waiting: one request at a time never creates or clears a timer per request (that
 * cost more than the rest of the client's bookkeeping), yet an idle connection holds no timer.
 */
import { HarnessError } from '../errors.js';

export interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (error: HarnessError) => void;
  readonly deadline: number;
  /** For streamed replies: called with each intermediate piece before the final one. */
  readonly onPart?: ((part: T) => void) | undefined;
}

export interface InFlight<T> {
  add(id: number, resolve: Waiter<T>['resolve'], reject: Waiter<T>['reject'], onPart?: (part: T) => void): void;
  take(id: number): Waiter<T> | undefined;
  get(id: number): Waiter<T> | undefined;
  readonly size: number;
  /** Reject everything with `error` and stop the sweep. */
  failAll(error: HarnessError): void;
}

export function createInFlight<T>(timeoutMs: number, onTimeout: (error: HarnessError) => void): InFlight<T> {
  const waiters = new Map<number, Waiter<T>>();
  let sweep: NodeJS.Timeout | undefined;
  const sweepEveryMs = Math.max(5, Math.min(250, Math.floor(timeoutMs / 4)));

  const arm = (): void => {
    sweep = setTimeout(check, sweepEveryMs);
    sweep.unref();
  };
  // Map order is send order: the first waiter is the oldest, so it is the only one to look at.
  const check = (): void => {
    sweep = undefined;
    for (const waiter of waiters.values()) {
      if (waiter.deadline <= performance.now()) {
        // The wire's order is lost once a reply is overdue, so the connection is given up whole.
        onTimeout(new HarnessError('TIMEOUT', `Expected a reply within ${timeoutMs} ms, got none`));
        return;
      }
      arm(); // later entries were sent later; look again while anything waits
      return;
    }
  };

  return {
    add(id, resolve, reject, onPart) {
      waiters.set(id, { resolve, reject, onPart, deadline: performance.now() + timeoutMs });
      if (sweep === undefined) arm();
    },
    take(id) {
      const waiter = waiters.get(id);
      if (waiter !== undefined) waiters.delete(id);
      return waiter;
    },
    get(id) {
      return waiters.get(id);
    },
    get size() {
      return waiters.size;
    },
    failAll(error) {
      if (sweep !== undefined) clearTimeout(sweep);
      sweep = undefined;
      const all = [...waiters.values()];
      waiters.clear();
      for (const waiter of all) waiter.reject(error);
    },
  };
}
