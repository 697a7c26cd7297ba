/** Measuring one closed-loop cell against a lease: connect, load, close, emit. */
import type { Transport } from '../../transports/types.js';
import { toHarnessError } from '../errors.js';
import { closedLoop, type Request } from '../load/closed-loop.js';
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

export async function measureClosedCell(ctx: SuiteContext, lease: SidecarLease, spec: ClosedCellSpec): Promise<void> {
  if (ctx.signal.aborted) return;
  ctx.progress.start(describeKey(spec.key));
  let clients: Transport[] = [];
  try {
    clients = await lease.connect(spec.key.concurrency);
  } catch (error) {
    ctx.emit(failedCell(spec.key, toHarnessError(error), lease.facts));
    return;
  }
  try {
    const workers = clients.map((client, i) => spec.request(client, i));
    const outcome = await closedLoop(workers, { ...loadOptions(ctx), ...(spec.check === undefined ? {} : { check: spec.check }) });
    const metrics = spec.metrics?.({ requests: outcome.requests - outcome.errors, durationNs: outcome.durationNs }) ?? {};
    ctx.emit(cellFromOutcome(spec.key, outcome, { metrics, sidecar: lease.facts, crashed: lease.crashed() }));
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}
