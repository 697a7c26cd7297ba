/**
 * Closed-loop load: `workers.length` requests in flight, each worker sending its next request as
 * soon as the last one returns. Warm-up first (not recorded), then measurement windows until the
 * cell is stable, hits `maxWindows`, or `maxRequests`.
 */
import { HarnessError } from '../errors.js';
import { countError, newOutcome, nowNs, type LoadOutcome } from './outcome.js';
import { isStable, windowStat } from './windows.js';

export interface ClosedLoopOptions {
  readonly warmupRequests: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly minWindows: number;
  readonly maxWindows: number;
  readonly maxRequests: number;
  readonly stabilityPct: number;
  readonly signal?: AbortSignal;
  /** Checks a reply outside the timed span; a throw counts the request as failed (MISMATCH). */
  readonly check?: (result: unknown) => void;
}

/** One request; resolves with whatever the caller wants checked in `onResult`. */
export type Request = () => Promise<unknown>;

export async function closedLoop(workers: readonly Request[], options: ClosedLoopOptions): Promise<LoadOutcome> {
  const outcome = newOutcome();
  await warmUp(workers, options, outcome);
  if (outcome.abortedBy !== undefined) return outcome;

  const windowNs = BigInt(options.windowMs) * 1_000_000n;
  const start = nowNs();
  let windowStart = start;
  let windowLatencies: number[] = [];
  let stop = false;

  const closeWindow = (now: bigint): void => {
    outcome.windows.push(windowStat(windowLatencies, Number(now - windowStart)));
    windowLatencies = [];
    windowStart = now;
    const enough = outcome.windows.length >= options.minWindows && isStable(outcome.windows, options.stabilityPct);
    if (enough || outcome.windows.length >= options.maxWindows) stop = true;
  };

  const run = async (request: Request): Promise<void> => {
    while (!stop && outcome.requests < options.maxRequests) {
      if (options.signal?.aborted === true) {
        countError(outcome, new HarnessError('ABORTED', 'The run was interrupted'));
        stop = true;
        return;
      }
      const t0 = nowNs();
      try {
        const result = await request();
        const t1 = nowNs();
        options.check?.(result);
        const latency = Number(t1 - t0);
        outcome.requests += 1;
        outcome.recorder.record(latency);
        windowLatencies.push(latency);
        if (t1 - windowStart >= windowNs && !stop) closeWindow(t1);
      } catch (error) {
        if (countError(outcome, error)) stop = true;
      }
    }
  };

  await Promise.all(workers.map(run));
  const end = nowNs();
  if (windowLatencies.length > 0 && outcome.windows.length < options.maxWindows) closeWindow(end);
  outcome.durationNs = Number(end - start);
  outcome.stable = isStable(outcome.windows, options.stabilityPct);
  return outcome;
}

async function warmUp(workers: readonly Request[], options: ClosedLoopOptions, outcome: LoadOutcome): Promise<void> {
  const deadline = nowNs() + BigInt(options.warmupMs) * 1_000_000n;
  let done = 0;
  const run = async (request: Request): Promise<void> => {
    while (outcome.abortedBy === undefined && (done < options.warmupRequests || nowNs() < deadline)) {
      done += 1;
      try {
        await request();
      } catch (error) {
        if (countError(outcome, error)) return;
      }
    }
  };
  await Promise.all(workers.map(run));
  if (outcome.abortedBy !== undefined) return;
  // Warm-up failures that did not abort are not part of the measurement.
  outcome.requests = 0;
  outcome.errors = 0;
  for (const code of Object.keys(outcome.errorsByCode)) delete outcome.errorsByCode[code as keyof typeof outcome.errorsByCode];
}
