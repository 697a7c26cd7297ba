/** Measuring one closed-loop cell against a lease: connect, load, close, emit. */
import type { Transport } from '../../transports/types.js';
import { toHarnessError } from '../errors.js';
import { closedLoop, type Request } from '../load/closed-loop.js';
import type { LoadOutcome } from '../load/outcome.js';
import type { CellKey } from '../results.js';
import { cellFromOutcome, failedCell } from './cell.js';
import type { SidecarLease, SuiteContext } from './context.js';

export interface ClosedCellSpec {
  readonly key: CellKey;
  /** The request one worker sends, bound to its own client. */
  readonly request: (client: Transport, worker: number) => Request;
  /** Throws (MISMATCH) when a reply is wrong; runs outside the timed span. */
  readonly check?: (result: unknown) => void;
  readonly metrics?: (cell: { requests: number; durationNs: number }) => Record<string, number | null>;
}

export function loadOptions(ctx: SuiteContext) {
  const c = ctx.config;
  return {
    warmupRequests: c.warmupRequests,
    warmupMs: c.warmupMs,
    windowMs: c.windowMs,
    minWindows: c.minWindows,
    maxWindows: c.maxWindows,
    maxRequests: c.maxRequests,
    stabilityPct: c.stabilityPct,
    signal: ctx.signal,
  };
}

export function describeKey(key: CellKey): string {
  const parts = [`${key.suite}/${key.scenario}`, `${key.transport}${key.httpSetup === undefined ? '' : `(${key.httpSetup})`}/${key.family}`];
  if (key.payloadBytes !== undefined) parts.push(`payload=${key.payloadBytes}`);
  if (key.batch !== undefined) parts.push(`batch=${key.batch}`);
  if (key.samplingSteps !== undefined) parts.push(`steps=${key.samplingSteps}`);
  if (key.targetRps !== undefined) parts.push(`rate=${key.targetRps}/s`);
  parts.push(`c=${key.concurrency}`);
  return parts.join(' ');
}

/** A connection lost because the process died is a crash; ask only when the cell lost its connection. */
export async function lostSidecar(lease: SidecarLease, outcome: LoadOutcome): Promise<boolean> {
  return outcome.abortedBy?.code === 'SIDECAR_CLOSED' ? lease.crashed() : false;
}

/**
 * Announce the cell, open `count` clients on the lease, run `body`, close the clients. A cell
 * whose clients cannot connect is recorded as failed with the connect error, and `body` is skipped.
 */
export async function withClients<T>(ctx: SuiteContext, lease: SidecarLease, key: CellKey, count: number, body: (clients: Transport[]) => Promise<T>): Promise<T | undefined> {
  if (ctx.signal.aborted) return undefined;
  ctx.progress.start(describeKey(key));
  let clients: Transport[];
  try {
    clients = await lease.connect(count);
  } catch (error) {
    ctx.emit(failedCell(key, toHarnessError(error), lease.facts));
    return undefined;
  }
  try {
    return await body(clients);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

export async function measureClosedCell(ctx: SuiteContext, lease: SidecarLease, spec: ClosedCellSpec): Promise<void> {
  await withClients(ctx, lease, spec.key, spec.key.concurrency, async (clients) => {
    const workers = clients.map((client, i) => spec.request(client, i));
    const outcome = await closedLoop(workers, { ...loadOptions(ctx), ...(spec.check === undefined ? {} : { check: spec.check }) });
    const metrics = spec.metrics?.({ requests: outcome.requests - outcome.errors, durationNs: outcome.durationNs }) ?? {};
    ctx.emit(cellFromOutcome(spec.key, outcome, { metrics, sidecar: lease.facts, crashed: await lostSidecar(lease, outcome) }));
  });
}

/** Open-loop cells draw on this many connections, which bounds what can be in flight at once. */
export const SERVER_CONNECTIONS = 16;

export interface OpenCellSpec {
  readonly key: CellKey & { readonly targetRps: number };
  readonly request: (client: Transport) => () => Promise<unknown>;
  readonly check?: (result: unknown) => void;
  readonly durationMs: number;
  readonly connections?: number;
}

/** The server scenario: Poisson arrivals at `targetRps`, latency from each scheduled send time. */
export async function measureOpenCell(ctx: SuiteContext, lease: SidecarLease, spec: OpenCellSpec): Promise<void> {
  await withClients(ctx, lease, spec.key, spec.connections ?? SERVER_CONNECTIONS, async (clients) => {
    const { openLoop } = await import('../load/open-loop.js');
    const outcome = await openLoop(
      clients.map((c) => spec.request(c)),
      {
        ratePerS: spec.key.targetRps,
        durationMs: spec.durationMs,
        windowMs: ctx.config.windowMs,
        stabilityPct: ctx.config.stabilityPct,
        maxQueue: Math.max(100, spec.key.targetRps),
        signal: ctx.signal,
        ...(spec.check === undefined ? {} : { check: spec.check }),
      },
    );
    const metrics = { achieved_rps: outcome.achievedRps, dropped: outcome.dropped, scheduled: outcome.scheduled, send_delay_p50_us: outcome.sendDelayP50Us };
    ctx.emit(cellFromOutcome(spec.key, outcome, { metrics, sidecar: lease.facts, crashed: await lostSidecar(lease, outcome) }));
  });
}

/** Server-scenario run length: long enough for several windows at the configured window size. */
export function serverDurationMs(ctx: SuiteContext): number {
  return ctx.config.windowMs * 4;
}

/** Concurrency levels for the model suites: a quick run keeps the sweep's low end (echo keeps it all). */
export function modelConcurrency(ctx: SuiteContext): number[] {
  if (!ctx.config.scenarios.includes('concurrency')) return [];
  return ctx.config.concurrency.filter((c) => c > 1 && (!ctx.config.quick || c <= 4));
}
