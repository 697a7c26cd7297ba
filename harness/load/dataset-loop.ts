/**
 * Closed-loop load over a fixed workload (the CIFAR test set, a prompt set): every item exactly
 * once, `workers.length` in flight. Unlike the windowed loop the workload, not stability, decides
 * when it ends; windows are still recorded so the report can say whether the cell was stable.
 */
import { HarnessError } from '../errors.js';
import { countError, newOutcome, nowNs, type LoadOutcome } from './outcome.js';
import { isStable, windowStat } from './windows.js';

export interface DatasetLoopOptions {
  readonly windowMs: number;
  readonly stabilityPct: number;
  readonly signal?: AbortSignal;
  /** Called for each successful item, outside the timed span; a throw counts it as failed. */
  readonly onResult?: (index: number, result: unknown, latencyNs: number) => void;
}

export type ItemRequest = (index: number) => Promise<unknown>;

export async function datasetLoop(workers: readonly ItemRequest[], count: number, options: DatasetLoopOptions): Promise<LoadOutcome> {
  const outcome = newOutcome();
  const windowNs = BigInt(options.windowMs) * 1_000_000n;
  const start = nowNs();
  let windowStart = start;
  let windowLatencies: number[] = [];
  let next = 0;
  let stop = false;

  const run = async (request: ItemRequest): Promise<void> => {
    while (!stop && next < count) {
      if (options.signal?.aborted === true) {
        countError(outcome, new HarnessError('ABORTED', 'The run was interrupted'));
        stop = true;
        return;
      }
      const index = next++;
      const t0 = nowNs();
      try {
        const result = await request(index);
        const t1 = nowNs();
        const latency = Number(t1 - t0);
        options.onResult?.(index, result, latency);
        outcome.requests += 1;
        outcome.recorder.record(latency);
        windowLatencies.push(latency);
        if (t1 - windowStart >= windowNs) {
          outcome.windows.push(windowStat(windowLatencies, Number(t1 - windowStart)));
          windowLatencies = [];
          windowStart = t1;
        }
      } catch (error) {
        if (countError(outcome, error)) stop = true;
      }
    }
  };

  await Promise.all(workers.map(run));
  const end = nowNs();
  if (windowLatencies.length > 0) outcome.windows.push(windowStat(windowLatencies, Number(end - windowStart)));
  outcome.durationNs = Number(end - start);
  outcome.stable = isStable(outcome.windows, options.stabilityPct);
  return outcome;
}
