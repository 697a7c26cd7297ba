/**
 * Arms: what a group interleaves. Each opens its clients once, warms up, then runs one block per
 * round: closed loop (N in flight, for a short time), open loop (Poisson arrivals at a rate), or
 * a slice of a workload (every item once). Request arms drive the harness's transports, the
 * calibration clients (lean Node, the C client) and the no-op share the same block plans, so the
 * only difference between two arms of a group is what they talk to.
 */
import type { Address } from '../../transports/address.js';
import { HarnessError } from '../../transports/errors.js';
import { closedBlock, itemsBlock, newBlock, type BlockResult, type OnResult } from '../load/blocks.js';
import { openBlock } from '../load/open-loop.js';
import { connectLean } from '../calibration/lean-client.js';
import { startNativeClient } from '../calibration/native-client.js';
import type { CalibrationWire } from '../results.js';
import type { Transport } from '../../transports/types.js';
import type { SuiteContext } from './context.js';
import type { OpenedArm } from './group.js';

/** A block never ends before this many requests, however slow they are: a median needs a few. */
export const MIN_BLOCK_REQUESTS = 3;
/** A block goes on past its time to this many requests (per worker), up to BLOCK_CAP x its time. */
const TARGET_BLOCK_REQUESTS = 15;
const BLOCK_CAP = 10;
/** Unrecorded requests per worker at the start of every block: the switch from another cell. */
const BLOCK_WARMUP = 1;
/** Open-loop cells draw on this many connections, which bounds what can be in flight at once. */
export const SERVER_CONNECTIONS = 16;
/** An open-loop block lasts long enough for about this many arrivals. */
const OPEN_BLOCK_ARRIVALS = 20;

/** `workers` clients (connections); `depth` requests in flight on each (default 1). */
export type Shape =
  | { readonly kind: 'closed'; readonly workers: number; readonly depth?: number }
  | { readonly kind: 'open'; readonly workers: number; readonly ratePerS: number; readonly arrivals?: number }
  | { readonly kind: 'items'; readonly workers: number; readonly depth?: number; readonly itemsFor: (round: number) => readonly number[] };

export interface RequestArmSpec<C> {
  readonly shape: Shape;
  connect(count: number): Promise<C[]>;
  closeClient(client: C): Promise<void>;
  /** One request for workload item `item` (a running count for closed and open blocks). */
  request(client: C, item: number): Promise<unknown>;
  readonly onResult?: OnResult;
  /** Warm-up before the first round; the config's `warmupRequests`/`warmupMs` when absent. */
  readonly warmup?: { readonly requests: number; readonly ms: number };
  readonly facts?: Readonly<Record<string, unknown>>;
  crashed?(): Promise<boolean>;
  /** Fails what is in flight with `error` (clients with no timeout of their own; see `watched`). */
  abort?(clients: readonly C[], error: HarnessError): void;
}

/** The open-loop block length for `ratePerS`: the configured block, or long enough for `arrivals` arrivals. */
export function openBlockMs(ctx: SuiteContext, ratePerS: number, arrivals = OPEN_BLOCK_ARRIVALS): number {
  return Math.max(ctx.config.blockMs, (arrivals * 1000) / ratePerS);
}

/** An arm of `spec.shape` over clients `spec.connect` opens; a connect failure throws (the cell fails). */
export async function openRequestArm<C>(ctx: SuiteContext, spec: RequestArmSpec<C>): Promise<OpenedArm> {
  const clients = await spec.connect(spec.shape.workers);
  const depth = spec.shape.kind === 'open' ? 1 : (spec.shape.depth ?? 1);
  const workers = clients.flatMap((client) => Array.from({ length: depth }, () => (item: number) => spec.request(client, item)));
  const { config, signal } = ctx;
  /**
   * Run a block under a watchdog (one interval per block, nothing per request): on Ctrl-C the
   * clients are dropped so a request in flight cannot hold the run; a client with no timeout of its
   * own (`abort`) is also dropped once no reply has come for `timeoutMs`. `record` says whether
   * replies reach `spec.onResult` (warm-up replies do not).
   */
  const watched = async (record: boolean, run: (onResult: OnResult) => Promise<BlockResult>): Promise<BlockResult> => {
    let last = performance.now();
    const stop = (error: HarnessError): void => {
      if (spec.abort !== undefined) spec.abort(clients, error);
      else for (const c of clients) void spec.closeClient(c).catch(() => undefined);
    };
    const timer = setInterval(() => {
      if (signal.aborted) stop(new HarnessError('ABORTED', 'The run was interrupted'));
      else if (spec.abort !== undefined && performance.now() - last > config.timeoutMs) stop(new HarnessError('TIMEOUT', `Expected a reply within ${config.timeoutMs} ms, got none`));
    }, Math.max(20, Math.min(250, config.timeoutMs / 4)));
    timer.unref();
    try {
      return await run((result, item, latency) => {
        last = performance.now();
        return record ? spec.onResult?.(result, item, latency) : undefined;
      });
    } finally {
      clearInterval(timer);
    }
  };
  const shape = spec.shape;
  return {
    ...(spec.facts === undefined ? {} : { facts: spec.facts }),
    ...(spec.crashed === undefined ? {} : { crashed: () => spec.crashed!() }),
    warmUp: () => {
      const warm = spec.warmup ?? { requests: config.warmupRequests, ms: config.warmupMs };
      return watched(false, (onResult) => closedBlock(workers, { durationMs: warm.ms, minRequests: warm.requests, warmupPerWorker: 0, signal, onResult }));
    },
    block: (round) => {
      if (shape.kind === 'items') return watched(true, (onResult) => itemsBlock(workers, shape.itemsFor(round), { signal, onResult }));
      if (shape.kind === 'open') {
        const durationMs = openBlockMs(ctx, shape.ratePerS, shape.arrivals);
        return watched(true, (onResult) => openBlock(workers, { ratePerS: shape.ratePerS, durationMs, maxQueue: Math.max(100, shape.ratePerS), seed: (config.seed * 7919 + round) >>> 0, signal, onResult }));
      }
      return watched(true, (onResult) =>
        closedBlock(workers, {
          durationMs: config.blockMs,
          minRequests: MIN_BLOCK_REQUESTS * workers.length,
          targetRequests: TARGET_BLOCK_REQUESTS * workers.length,
          maxDurationMs: config.blockMs * BLOCK_CAP,
          warmupPerWorker: BLOCK_WARMUP,
          signal,
          onResult,
        }),
      );
    },
    close: async () => {
      await Promise.all(clients.map((c) => spec.closeClient(c).catch(() => undefined)));
    },
  };
}

/** A server a calibration client talks to: a sidecar's lease, or the C echo peer. */
export interface Server {
  live(): Promise<Address>;
  readonly facts: Readonly<Record<string, unknown>>;
  crashed(): Promise<boolean>;
}

/** A server the harness's own transport clients can be opened on. */
export interface ClientSource {
  readonly facts: Readonly<Record<string, unknown>>;
  crashed(): Promise<boolean>;
  connect(count: number): Promise<Transport[]>;
}

/** An arm of the harness's transport clients on `source`, or one that fails with why the source is missing. */
export function transportArm(
  ctx: SuiteContext,
  source: ClientSource | HarnessError,
  spec: Pick<RequestArmSpec<Transport>, 'shape' | 'request' | 'onResult' | 'warmup'>,
): () => Promise<OpenedArm> {
  if (source instanceof HarnessError) return () => Promise.reject(source);
  return () => openRequestArm<Transport>(ctx, { ...spec, connect: (n) => source.connect(n), closeClient: (c) => c.close(), facts: source.facts, crashed: () => source.crashed() });
}

/** The lean Node client on `server` (the harness's clients are held to it). */
export function leanArm(ctx: SuiteContext, server: Server, wire: CalibrationWire, payload: Uint8Array, check: OnResult): () => Promise<OpenedArm> {
  return async () => {
    const address = await server.live();
    return openRequestArm(ctx, {
      shape: { kind: 'closed', workers: 1 },
      connect: async () => [await connectLean(address, wire)],
      closeClient: (c) => c.close(),
      request: (c) => c.echo(payload),
      onResult: check,
      facts: server.facts,
      crashed: () => server.crashed(),
      abort: (clients, error) => clients.forEach((c) => c.destroy(error)),
    });
  };
}

/** The native C client on `server`: one connection, blocks timed in C. */
export function nativeClientArm(ctx: SuiteContext, server: Server, payloadBytes: number): () => Promise<OpenedArm> {
  return async () => {
    const client = await startNativeClient(await server.live(), ctx.config.timeoutMs);
    const plan = { payloadBytes, durationMs: ctx.config.blockMs, minRequests: MIN_BLOCK_REQUESTS, warmup: BLOCK_WARMUP };
    return {
      facts: { ...server.facts, client_pid: client.pid },
      crashed: () => server.crashed(),
      warmUp: () => client.block({ ...plan, durationMs: ctx.config.warmupMs, minRequests: ctx.config.warmupRequests, warmup: 0 }),
      block: () => (ctx.signal.aborted ? Promise.resolve(interrupted()) : client.block(plan)),
      close: () => client.close(),
    };
  };
}

/** A request that never leaves the process: the harness's own cost per request. */
export function noOpArm(ctx: SuiteContext, payload: Uint8Array): () => Promise<OpenedArm> {
  return () =>
    openRequestArm(ctx, {
      shape: { kind: 'closed', workers: 1 },
      connect: async () => [payload],
      closeClient: async () => undefined,
      request: (p) => Promise.resolve(p),
    });
}

/** A block that never ran: the run was interrupted (no request was sent, so none is counted). */
function interrupted(): BlockResult {
  return { ...newBlock(), abortedBy: new HarnessError('ABORTED', 'The run was interrupted') };
}
