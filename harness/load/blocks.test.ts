import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../transports/errors.js';
import { closedBlock, itemsBlock, medianOf } from './blocks.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('closed-loop block', () => {
  it('runs until both its time and its request minimum are met, warm-up unrecorded', async () => {
    const seen: number[] = [];
    const worker = async (item: number): Promise<number> => {
      seen.push(item);
      // At least 2 ms by the clock the block reads (a timer alone can fire early on a busy loop).
      const start = process.hrtime.bigint();
      await sleep(2);
      while (process.hrtime.bigint() - start < 2_000_000n);
      return item;
    };
    const block = await closedBlock([worker], { durationMs: 30, minRequests: 3, warmupPerWorker: 2 });
    expect(block.requests).toBe(seen.length - 2);
    expect(block.requests).toBeGreaterThanOrEqual(3);
    expect(block.durationNs).toBeGreaterThanOrEqual(30e6);
    expect(block.latenciesNs.every((ns) => ns >= 2e6)).toBe(true); // each >= 2 ms, in nanoseconds
    const slow = await closedBlock([() => sleep(20)], { durationMs: 1, minRequests: 4, warmupPerWorker: 0 });
    expect(slow.requests).toBe(4);
  });

  it('keeps N requests in flight with N workers', async () => {
    let inFlight = 0;
    let most = 0;
    const worker = async (): Promise<void> => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await sleep(1);
      inFlight -= 1;
    };
    await closedBlock([worker, worker, worker, worker], { durationMs: 20, minRequests: 1, warmupPerWorker: 1 });
    expect(most).toBe(4);
  });

  it('counts a reply its check rejects as MISMATCH and goes on; stops on a fatal error', async () => {
    let n = 0;
    const checked = await closedBlock([() => Promise.resolve(n++)], {
      durationMs: 5,
      minRequests: 10,
      warmupPerWorker: 0,
      onResult: (r) => {
        if ((r as number) % 3 === 0) throw new HarnessError('MISMATCH', 'bad');
      },
    });
    expect(checked.errorsByCode.MISMATCH).toBeGreaterThan(0);
    expect(checked.abortedBy).toBeUndefined();
    expect(checked.latenciesNs.length + checked.errors).toBe(checked.requests);
    const fatal = await closedBlock([() => Promise.reject(new HarnessError('TIMEOUT', 'late'))], { durationMs: 5, minRequests: 1, warmupPerWorker: 0 });
    expect(fatal.abortedBy?.code).toBe('TIMEOUT');
    expect(fatal.requests).toBe(1);
  });

  it('stops with ABORTED when the run is interrupted', async () => {
    const abort = new AbortController();
    abort.abort();
    const block = await closedBlock([() => Promise.resolve()], { durationMs: 1000, minRequests: 1, warmupPerWorker: 0, signal: abort.signal });
    expect(block.abortedBy?.code).toBe('ABORTED');
  });

  it('pairs latency with the compute time the reply reports', async () => {
    const block = await closedBlock([() => sleep(2).then(() => 1_000_000)], { durationMs: 10, minRequests: 3, warmupPerWorker: 0, onResult: (r) => r as number });
    expect(block.computeNs.every((c) => c === 1_000_000)).toBe(true);
    expect(block.overheadNs).toHaveLength(block.latenciesNs.length);
    for (let i = 0; i < block.overheadNs.length; i++) expect(block.overheadNs[i]).toBe((block.latenciesNs[i] as number) - 1_000_000);
  });
});

describe('items block', () => {
  it('runs every item exactly once across its workers', async () => {
    const seen: number[] = [];
    const worker = async (item: number): Promise<number> => {
      seen.push(item);
      await sleep(1);
      return item * 2;
    };
    const got = new Map<number, unknown>();
    const block = await itemsBlock([worker, worker, worker], [10, 11, 12, 13, 14, 15, 16], { onResult: (r, item) => void got.set(item, r) });
    expect(seen.sort((a, b) => a - b)).toEqual([10, 11, 12, 13, 14, 15, 16]);
    expect(block.requests).toBe(7);
    expect(got.get(13)).toBe(26);
  });
});

describe('medianOf', () => {
  it('takes the middle value, or the mean of the two middle ones', () => {
    expect(medianOf([3, 1, 2])).toBe(2);
    expect(medianOf([4, 1, 3, 2])).toBe(2.5);
    expect(medianOf([])).toBeNaN();
  });
});
