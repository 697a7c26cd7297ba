/**
 * Open-loop load (MLPerf's server scenario, wrk2's constant rate) for one block: requests are
 * scheduled with Poisson arrivals at `ratePerS`, independent of replies, and each latency is
 * counted from the request's *scheduled* send time. A sidecar that stalls cannot hide its queue:
 * requests waiting for a free connection accrue that wait, and when the block's schedule ends the
 * backlog is still sent and waited for, so an overloaded cell shows its whole queue. Requests that
 * would push the backlog past `maxQueue` are dropped (counted, not sent). The same `seed` gives the
 * same arrival times, so every cell of a round can be offered the very same schedule.
 */
import { mulberry32 } from '../../datasets/random.js';
import { interruption, newBlock, recordSuccess, type BlockResult, type OnResult } from './blocks.js';
import { countError, nowNs } from './outcome.js';

export interface OpenBlockPlan {
  readonly ratePerS: number;
  readonly durationMs: number;
  readonly maxQueue: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly onResult?: OnResult;
}

/** `clients`: each runs one request at a time; together they bound what is in flight. */
export async function openBlock(clients: readonly ((item: number) => Promise<unknown>)[], plan: OpenBlockPlan): Promise<BlockResult & { scheduled: number; dropped: number }> {
  const block = { ...newBlock(), scheduled: 0, dropped: 0 };
  const random = mulberry32(plan.seed);
  const meanGapNs = 1e9 / plan.ratePerS;
  const start = nowNs();
  const endNs = start + BigInt(Math.round(plan.durationMs * 1e6));
  const queue: bigint[] = []; // scheduled times waiting for a free client
  const idle = [...clients];
  let inFlight = 0;
  let item = 0;
  let settle: () => void = () => undefined;
  const drained = new Promise<void>((resolve) => (settle = resolve));

  const dispatch = (): void => {
    while (idle.length > 0 && queue.length > 0) {
      const client = idle.pop() as (item: number) => Promise<unknown>;
      const scheduled = queue.shift() as bigint;
      const index = item++;
      inFlight += 1;
      void client(index).then(
        (result) => {
          const latency = Number(nowNs() - scheduled);
          try {
            recordSuccess(block, latency, plan.onResult?.(result, index, latency));
          } catch (error) {
            countError(block, error);
          }
          release(client);
        },
        (error: unknown) => {
          countError(block, error);
          release(client);
        },
      );
    }
  };
  const release = (client: (item: number) => Promise<unknown>): void => {
    inFlight -= 1;
    if (block.abortedBy === undefined) idle.push(client);
    if (block.abortedBy === undefined) dispatch();
    if (inFlight === 0 && ((producing === false && queue.length === 0) || block.abortedBy !== undefined)) settle();
  };

  let producing = true;
  let next = start;
  while (producing) {
    if (plan.signal?.aborted === true) {
      block.abortedBy ??= interruption();
      break;
    }
    if (block.abortedBy !== undefined) break;
    const now = nowNs();
    while (next <= now && next < endNs) {
      block.scheduled += 1;
      if (queue.length >= plan.maxQueue) block.dropped += 1;
      else queue.push(next);
      next += BigInt(Math.max(1, Math.round(-Math.log(1 - random()) * meanGapNs)));
    }
    dispatch();
    if (next >= endNs) break;
    const waitMs = Number(next - nowNs()) / 1e6;
    await (waitMs > 1.5 ? sleep(waitMs - 1, plan.signal) : new Promise<void>((resolve) => setImmediate(resolve)));
  }
  producing = false;
  if (block.abortedBy !== undefined) {
    block.dropped += queue.length; // never sent: the connection (or the run) is gone
    queue.length = 0;
  }
  if (inFlight > 0 || queue.length > 0) await drained;
  block.durationNs = Number(nowNs() - start);
  return block;
}

/** Wait `ms`, or less when `signal` fires first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
