/**
 * Open-loop load (MLPerf's server scenario, wrk2's constant rate): requests are scheduled with
 * Poisson arrivals at `ratePerS`, independent of replies, and each latency is counted from the
 * request's *scheduled* send time. A sidecar that stalls cannot hide its queue: requests waiting
 * for a free connection accrue that wait. Requests that would push the backlog past `maxQueue`
 * are dropped (counted, not sent).
 */
import { HarnessError } from '../errors.js';
import { mulberry32 } from '../stats/random.js';
import { countError, newOutcome, nowNs, type LoadOutcome } from './outcome.js';
import { isStable, windowStat } from './windows.js';

export interface OpenLoopOptions {
  readonly ratePerS: number;
  readonly durationMs: number;
  readonly windowMs: number;
  readonly stabilityPct: number;
  readonly maxQueue: number;
  readonly seed?: number;
  readonly signal?: AbortSignal;
  readonly check?: (result: unknown) => void;
}

export interface OpenLoopOutcome extends LoadOutcome {
  scheduled: number;
  dropped: number;
  achievedRps: number;
  /** Median delay between a request's scheduled time and when a connection took it, microseconds. */
  sendDelayP50Us: number;
}

/** `clients`: each runs one request at a time; together they bound what is in flight. */
export async function openLoop(clients: readonly (() => Promise<unknown>)[], options: OpenLoopOptions): Promise<OpenLoopOutcome> {
  const outcome: OpenLoopOutcome = { ...newOutcome(), scheduled: 0, dropped: 0, achievedRps: 0, sendDelayP50Us: 0 };
  const random = mulberry32(options.seed ?? 42);
  const meanGapNs = 1e9 / options.ratePerS;
  const start = nowNs();
  const endNs = start + BigInt(options.durationMs) * 1_000_000n;
  const queue: bigint[] = []; // scheduled times waiting for a free client
  const idle = [...clients];
  const sendDelays: number[] = [];
  let windowStart = start;
  let windowLatencies: number[] = [];
  let inFlight = 0;
  let settle: () => void = () => undefined;
  const drained = new Promise<void>((resolve) => (settle = resolve));

  const dispatch = (): void => {
    while (idle.length > 0 && queue.length > 0) {
      const client = idle.pop() as () => Promise<unknown>;
      const scheduled = queue.shift() as bigint;
      inFlight += 1;
      sendDelays.push(Number(nowNs() - scheduled) / 1000);
      void client().then(
        (result) => {
          const t1 = nowNs();
          try {
            options.check?.(result);
            const latency = Number(t1 - scheduled);
            outcome.requests += 1;
            outcome.recorder.record(latency);
            windowLatencies.push(latency);
            if (t1 - windowStart >= BigInt(options.windowMs) * 1_000_000n) {
              outcome.windows.push(windowStat(windowLatencies, Number(t1 - windowStart)));
              windowLatencies = [];
              windowStart = t1;
            }
          } catch (error) {
            countError(outcome, error);
          }
          release(client);
        },
        (error: unknown) => {
          countError(outcome, error);
          release(client);
        },
      );
    }
  };
  const release = (client: () => Promise<unknown>): void => {
    inFlight -= 1;
    if (outcome.abortedBy === undefined) idle.push(client);
    dispatch();
    if (inFlight === 0 && (producing === false || outcome.abortedBy !== undefined)) settle();
  };

  let producing = true;
  let next = start;
  while (producing) {
    if (options.signal?.aborted === true) {
      countError(outcome, new HarnessError('ABORTED', 'The run was interrupted'));
      break;
    }
    if (outcome.abortedBy !== undefined) break;
    const now = nowNs();
    while (next <= now && next < endNs) {
      outcome.scheduled += 1;
      if (queue.length >= options.maxQueue) outcome.dropped += 1;
      else queue.push(next);
      next += BigInt(Math.max(1, Math.round(-Math.log(1 - random()) * meanGapNs)));
    }
    dispatch();
    if (next >= endNs) break;
    const waitMs = Number(next - nowNs()) / 1e6;
    await new Promise<void>((resolve) => (waitMs > 1.5 ? setTimeout(resolve, waitMs - 1) : setImmediate(resolve)));
  }
  producing = false;
  outcome.dropped += queue.length; // never sent: the run ended (or aborted) before a client was free
  queue.length = 0;
  if (inFlight > 0) await drained;
  const end = nowNs();
  if (windowLatencies.length > 0) outcome.windows.push(windowStat(windowLatencies, Number(end - windowStart)));
  outcome.durationNs = Number(end - start);
  outcome.achievedRps = ((outcome.requests - outcome.errors) * 1e9) / outcome.durationNs;
  outcome.stable = isStable(outcome.windows, options.stabilityPct);
  sendDelays.sort((a, b) => a - b);
  outcome.sendDelayP50Us = sendDelays[Math.floor((sendDelays.length - 1) / 2)] ?? 0;
  return outcome;
}
