/**
 * Blocks: the unit of work an interleaved round gives each cell. A block runs one kind of load
 * for a short time (or over a slice of a workload), timing every request with the monotonic
 * clock, and returns plain data; failures are counted by code, never thrown. Rounds (rounds.ts)
 * alternate blocks of different cells so that what is compared is measured in the same moments.
 */
import { HarnessError, type HarnessErrorCode } from '../../transports/errors.js';
import { countError, nowNs } from './outcome.js';

/** What one block measured. */
export interface BlockResult {
  /** Latency of every successful request, nanoseconds, in completion order. */
  readonly latenciesNs: number[];
  /** The model's own compute time per successful request, where the reply carried it. */
  readonly computeNs: number[];
  /** `latency - compute` for the requests that carried a compute time: the transport's share. */
  readonly overheadNs: number[];
  requests: number;
  errors: number;
  readonly errorsByCode: Partial<Record<HarnessErrorCode, number>>;
  durationNs: number;
  /** Set when the block stopped because going on could not work (connection lost, timeout, Ctrl-C). */
  abortedBy: HarnessError | undefined;
  /** Open loop only: requests scheduled, and those dropped because the backlog was full. */
  scheduled?: number;
  dropped?: number;
}

/** One request for workload item `item` (a running count when the block has no workload). */
export type ItemRequest = (item: number) => Promise<unknown>;

/**
 * Called for each successful reply, outside the timed span. A throw counts the request as failed
 * (MISMATCH, say); a number returned is the model's compute time for it, in nanoseconds.
 */
export type OnResult = (result: unknown, item: number, latencyNs: number) => number | undefined | void;

export function newBlock(): BlockResult {
  return { latenciesNs: [], computeNs: [], overheadNs: [], requests: 0, errors: 0, errorsByCode: {}, durationNs: 0, abortedBy: undefined };
}

/** Record one successful request (after `onResult` accepted it). */
export function recordSuccess(block: BlockResult, latencyNs: number, computeNs: number | undefined | void): void {
  block.requests += 1;
  block.latenciesNs.push(latencyNs);
  if (typeof computeNs === 'number' && Number.isFinite(computeNs)) {
    block.computeNs.push(computeNs);
    block.overheadNs.push(latencyNs - computeNs);
  }
}

export interface ClosedBlockPlan {
  /** Measure for at least this long... */
  readonly durationMs: number;
  /** ...and at least this many requests (a slow cell still gets a usable median)... */
  readonly minRequests: number;
  /**
   * ...or, once this much time has passed, at least `minRequests` alone. A block aims at
   * `targetRequests` so a slow cell's median is not taken over a handful of requests; the cap
   * keeps a very slow one from holding up the round.
   */
  readonly targetRequests?: number;
  readonly maxDurationMs?: number;
  /** Unrecorded requests per worker before the clock starts: the switch from another cell's block. */
  readonly warmupPerWorker: number;
  readonly signal?: AbortSignal;
  readonly onResult?: OnResult;
}

/**
 * Closed loop: `workers.length` requests in flight, each worker sending its next request as soon
 * as its last one returns, until the block's time and request minimum are both met.
 */
export async function closedBlock(workers: readonly ItemRequest[], plan: ClosedBlockPlan): Promise<BlockResult> {
  const block = newBlock();
  let next = 0;
  await Promise.all(
    workers.map(async (request) => {
      for (let i = 0; i < plan.warmupPerWorker && block.abortedBy === undefined; i++) {
        try {
          await request(next++);
        } catch (error) {
          countError(block, error);
        }
      }
    }),
  );
  if (block.abortedBy !== undefined) return block;
  clearCounts(block); // warm-up failures that did not abort are not part of the measurement
  const start = nowNs();
  const until = start + BigInt(Math.round(plan.durationMs * 1e6));
  const cap = start + BigInt(Math.round(Math.max(plan.durationMs, plan.maxDurationMs ?? plan.durationMs) * 1e6));
  const target = Math.max(plan.minRequests, plan.targetRequests ?? plan.minRequests);
  const more = (): boolean => {
    const now = nowNs();
    if (block.requests < plan.minRequests || now < until) return true;
    return block.requests < target && now < cap;
  };
  const run = async (request: ItemRequest): Promise<void> => {
    while (block.abortedBy === undefined && more()) {
      if (plan.signal?.aborted === true) {
        block.abortedBy ??= interruption();
        return;
      }
      await timedRequest(block, request, next++, plan.onResult);
    }
  };
  await Promise.all(workers.map(run));
  block.durationNs = Number(nowNs() - start);
  return block;
}

export interface ItemsBlockPlan {
  readonly signal?: AbortSignal;
  readonly onResult?: OnResult;
}

/** A slice of a fixed workload: every item in `items` exactly once, `workers.length` in flight. */
export async function itemsBlock(workers: readonly ItemRequest[], items: readonly number[], plan: ItemsBlockPlan): Promise<BlockResult> {
  const block = newBlock();
  let at = 0;
  const start = nowNs();
  const run = async (request: ItemRequest): Promise<void> => {
    while (block.abortedBy === undefined && at < items.length) {
      if (plan.signal?.aborted === true) {
        block.abortedBy ??= interruption();
        return;
      }
      await timedRequest(block, request, items[at++] as number, plan.onResult);
    }
  };
  await Promise.all(workers.map(run));
  block.durationNs = Number(nowNs() - start);
  return block;
}

async function timedRequest(block: BlockResult, request: ItemRequest, item: number, onResult: OnResult | undefined): Promise<void> {
  const t0 = nowNs();
  try {
    const result = await request(item);
    const latency = Number(nowNs() - t0);
    recordSuccess(block, latency, onResult?.(result, item, latency));
  } catch (error) {
    countError(block, error);
  }
}

/** Why a block stopped on Ctrl-C; it is not a request, so it is not counted as one. */
export function interruption(): HarnessError {
  return new HarnessError('ABORTED', 'The run was interrupted');
}

function clearCounts(block: BlockResult): void {
  block.requests = 0;
  block.errors = 0;
  for (const code of Object.keys(block.errorsByCode)) delete block.errorsByCode[code as HarnessErrorCode];
}

/** The median of `values` (NaN when empty), without changing the array. */
export function medianOf(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
