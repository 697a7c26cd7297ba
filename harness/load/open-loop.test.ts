import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../transports/errors.js';
import { medianOf } from './blocks.js';
import { openBlock } from './open-loop.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('open-loop block', () => {
  it('offers the target rate with Poisson arrivals', async () => {
    const clients = Array.from({ length: 8 }, () => () => Promise.resolve());
    const out = await openBlock(clients, { ratePerS: 500, durationMs: 1000, maxQueue: 1000, seed: 1 });
    expect(out.scheduled).toBeGreaterThan(400);
    expect(out.scheduled).toBeLessThan(600);
    expect(out.dropped).toBe(0);
    expect(out.requests).toBe(out.scheduled);
    expect(out.latenciesNs).toHaveLength(out.requests);
  });

  it('offers the same schedule for the same seed', async () => {
    const clients = [() => Promise.resolve()];
    const a = await openBlock(clients, { ratePerS: 2000, durationMs: 200, maxQueue: 1000, seed: 9 });
    const b = await openBlock(clients, { ratePerS: 2000, durationMs: 200, maxQueue: 1000, seed: 9 });
    expect(Math.abs(a.scheduled - b.scheduled)).toBeLessThanOrEqual(1);
  });

  it('counts queueing from the scheduled time, so a stall shows in the latency', async () => {
    // One client that takes 20 ms per request at 200 req/s offered: the queue grows and latency with it.
    const out = await openBlock([() => sleep(20)], { ratePerS: 200, durationMs: 500, maxQueue: 30, seed: 1 });
    expect(Math.max(...out.latenciesNs)).toBeGreaterThan(100_000_000); // far more than the 20 ms service time
    expect(medianOf(out.latenciesNs)).toBeGreaterThan(20_000_000);
    expect(out.dropped).toBeGreaterThan(0);
    expect((out.requests * 1e9) / out.durationNs).toBeLessThan(60);
  });

  it('sends and measures the backlog left when the schedule ends: an overloaded cell shows its whole queue', async () => {
    const out = await openBlock([() => sleep(10)], { ratePerS: 400, durationMs: 200, maxQueue: 1000, seed: 2 });
    expect(out.dropped).toBe(0);
    expect(out.requests).toBe(out.scheduled);
    expect(out.durationNs).toBeGreaterThan(out.scheduled * 9e6); // every queued request went out, one at a time
    expect(Math.max(...out.latenciesNs)).toBeGreaterThan(out.durationNs - 300e6);
  });

  it('stops waiting for the next arrival when the run is interrupted, and counts no request for it', async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 50);
    const started = performance.now();
    const out = await openBlock([() => Promise.resolve()], { ratePerS: 0.2, durationMs: 20_000, maxQueue: 10, seed: 1, signal: abort.signal });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(out.abortedBy?.code).toBe('ABORTED');
    expect(out.errors).toBe(0);
  });

  it('counts failures by code and stops on a fatal one', async () => {
    const out = await openBlock([() => Promise.reject(new HarnessError('SIDECAR_CLOSED', 'gone'))], { ratePerS: 100, durationMs: 300, maxQueue: 10, seed: 1 });
    expect(out.errorsByCode.SIDECAR_CLOSED).toBe(1);
    expect(out.abortedBy?.code).toBe('SIDECAR_CLOSED');
  });

  it('takes the compute time a reply reports and counts a rejected reply as failed', async () => {
    let n = 0;
    const out = await openBlock([() => Promise.resolve(n++)], {
      ratePerS: 1000,
      durationMs: 100,
      maxQueue: 100,
      seed: 3,
      onResult(result) {
        if ((result as number) % 2 === 1) throw new HarnessError('MISMATCH', 'odd');
        return 1000;
      },
    });
    expect(out.errorsByCode.MISMATCH).toBeGreaterThan(0);
    expect(out.computeNs.every((c) => c === 1000)).toBe(true);
    expect(out.overheadNs).toHaveLength(out.latenciesNs.length);
  });
});
