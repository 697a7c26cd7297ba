import { describe, expect, it, vi } from 'vitest';
import { HarnessError } from '../errors.js';
import { createInFlight } from './in-flight.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('requests in flight', () => {
  it('matches replies by id, in any order', () => {
    const inFlight = createInFlight<string>(1000, () => undefined);
    const got: string[] = [];
    inFlight.add(1, (v) => got.push(`1:${v}`), () => undefined);
    inFlight.add(2, (v) => got.push(`2:${v}`), () => undefined);
    expect(inFlight.size).toBe(2);
    inFlight.take(2)?.resolve('b');
    inFlight.take(1)?.resolve('a');
    expect(got).toEqual(['2:b', '1:a']);
    expect(inFlight.size).toBe(0);
    inFlight.failAll(new HarnessError('SIDECAR_CLOSED', 'done'));
  });

  it('times out an overdue request through one sweep timer', async () => {
    const errors: string[] = [];
    const inFlight = createInFlight<string>(40, (e) => errors.push(e.code));
    inFlight.add(1, () => undefined, () => undefined);
    await sleep(120);
    expect(errors[0]).toBe('TIMEOUT');
    inFlight.failAll(new HarnessError('TIMEOUT', 'x'));
  });

  it('creates no timer per request, and stops re-arming once idle', async () => {
    const armed = vi.spyOn(globalThis, 'setTimeout');
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    try {
      const inFlight = createInFlight<string>(40, () => undefined);
      for (let i = 0; i < 1000; i++) {
        inFlight.add(i, () => undefined, () => undefined);
        inFlight.take(i);
      }
      expect(armed).toHaveBeenCalledTimes(1); // the one sweep, armed by the first request
      expect(cleared).not.toHaveBeenCalled();
      await sleep(60); // the sweep found nothing waiting: no new timer
      expect(armed.mock.calls.filter(([, ms]) => ms === 10)).toHaveLength(1);
      const failed: string[] = [];
      inFlight.add(5000, () => undefined, (e) => failed.push(e.code));
      inFlight.failAll(new HarnessError('SIDECAR_CLOSED', 'closed'));
      expect(failed).toEqual(['SIDECAR_CLOSED']);
    } finally {
      armed.mockRestore();
      cleared.mockRestore();
    }
  });
});
