import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config.js';
import { HarnessError } from '../../transports/errors.js';
import type { SuiteContext } from './context.js';
import { openRequestArm } from './arms.js';

function context(signal: AbortSignal, timeoutMs = 200): SuiteContext {
  return {
    config: resolveConfig({ timeoutMs, blockMs: 5, warmupRequests: 3, warmupMs: 0 }),
    signal,
    progress: { start: () => undefined, done: () => undefined, plan: () => undefined, log: () => undefined },
    emit: () => undefined,
    check: () => undefined,
    withSidecars: () => Promise.reject(new Error('unused')),
    pinned: (body) => body(undefined),
    measure: () => Promise.reject(new Error('unused')),
  };
}

/** A client that answers at once until `hangAfter` requests, then never again; `abort` fails the hung one. */
function hangingClient(hangAfter: number) {
  let served = 0;
  let fail: ((e: HarnessError) => void) | undefined;
  return {
    request: (): Promise<number> => (served++ < hangAfter ? Promise.resolve(served) : new Promise<number>((_, reject) => (fail = reject))),
    abort: (e: HarnessError) => fail?.(e),
  };
}

describe('request arms', () => {
  it('keep warm-up replies out of what the cell records', async () => {
    const seen: number[] = [];
    const arm = await openRequestArm(context(new AbortController().signal), {
      shape: { kind: 'closed', workers: 1 },
      connect: async () => [0],
      closeClient: async () => undefined,
      request: async (_c, item) => item,
      onResult: (r) => void seen.push(r as number),
    });
    await arm.warmUp();
    expect(seen).toEqual([]);
    const block = await arm.block(0);
    expect(seen.length).toBe(block.latenciesNs.length);
  });

  it('drop a client with no timeout of its own once no reply has come for timeoutMs', async () => {
    const client = hangingClient(5);
    const arm = await openRequestArm(context(new AbortController().signal, 200), {
      shape: { kind: 'closed', workers: 1 },
      connect: async () => [client],
      closeClient: async () => undefined,
      request: (c) => c.request(),
      abort: (clients, error) => clients.forEach((c) => c.abort(error)),
    });
    const started = performance.now();
    const block = await arm.block(0);
    expect(block.abortedBy?.code).toBe('TIMEOUT');
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('stop a hung request at once on Ctrl-C, closing the clients', async () => {
    const abort = new AbortController();
    const client = hangingClient(0);
    let closed = 0;
    const arm = await openRequestArm(context(abort.signal, 60_000), {
      shape: { kind: 'closed', workers: 1 },
      connect: async () => [client],
      closeClient: async (c) => {
        closed += 1;
        c.abort(new HarnessError('SIDECAR_CLOSED', 'closed by the client'));
      },
      request: (c) => c.request(),
    });
    setTimeout(() => abort.abort(), 50);
    const started = performance.now();
    const block = await arm.block(0);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(closed).toBe(1);
    expect(block.abortedBy).toBeDefined();
  });
});
