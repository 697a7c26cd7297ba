import { describe, expect, it } from 'vitest';
import { openLoop } from './open-loop.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('open loop', () => {
  it('offers the target rate with Poisson arrivals', async () => {
    const clients = Array.from({ length: 8 }, () => () => Promise.resolve());
    const out = await openLoop(clients, { ratePerS: 500, durationMs: 1000, windowMs: 250, stabilityPct: 50, maxQueue: 1000 });
    expect(out.scheduled).toBeGreaterThan(400);
    expect(out.scheduled).toBeLessThan(600);
    expect(out.dropped).toBe(0);
    expect(out.achievedRps).toBeGreaterThan(350);
  });

  it('counts queueing from the scheduled time, so a stall shows in the latency', async () => {
    // One client that takes 20 ms per request at 200 req/s offered: the queue grows and latency with it.
    const out = await openLoop([() => sleep(20)], { ratePerS: 200, durationMs: 500, windowMs: 100, stabilityPct: 10, maxQueue: 30 });
    const summary = out.recorder.summary();
    expect(summary).toBeDefined();
    expect(summary?.p99Us ?? 0).toBeGreaterThan(100_000); // far more than the 20 ms service time
    expect(out.dropped).toBeGreaterThan(0);
    expect(out.achievedRps).toBeLessThan(60);
  });

  it('counts failures by code and stops on a fatal one', async () => {
    const { HarnessError } = await import('../errors.js');
    const out = await openLoop([() => Promise.reject(new HarnessError('SIDECAR_CLOSED', 'gone'))], { ratePerS: 100, durationMs: 300, windowMs: 100, stabilityPct: 10, maxQueue: 10 });
    expect(out.errorsByCode.SIDECAR_CLOSED).toBe(1);
    expect(out.abortedBy?.code).toBe('SIDECAR_CLOSED');
  });
});
