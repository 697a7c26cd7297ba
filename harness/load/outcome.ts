import { HarnessError, toHarnessError, type HarnessErrorCode } from '../errors.js';
import { createRecorder, type LatencyRecorder } from '../stats/recorder.js';
import type { WindowStat } from './windows.js';

/** What one load run measured, whatever the scenario; failures are counted, not thrown. */
export interface LoadOutcome {
  readonly recorder: LatencyRecorder;
  readonly errorsByCode: Partial<Record<HarnessErrorCode, number>>;
  requests: number;
  errors: number;
  durationNs: number;
  readonly windows: WindowStat[];
  stable: boolean;
  /** Set when the run stopped early because going on could not work (connection lost, timeout). */
  abortedBy: HarnessError | undefined;
}

/** Errors after which a connection (and so the cell) cannot go on. */
const FATAL: ReadonlySet<HarnessErrorCode> = new Set(['SIDECAR_CLOSED', 'SIDECAR_CRASHED', 'CONNECT_FAILED', 'TIMEOUT', 'PROTOCOL_ERROR', 'ABORTED']);

export function newOutcome(): LoadOutcome {
  return { recorder: createRecorder(), errorsByCode: {}, requests: 0, errors: 0, durationNs: 0, windows: [], stable: false, abortedBy: undefined };
}

/** Count a failed request; returns true when the run must stop. */
export function countError(outcome: LoadOutcome, error: unknown): boolean {
  const e = toHarnessError(error);
  outcome.errors += 1;
  outcome.requests += 1;
  outcome.errorsByCode[e.code] = (outcome.errorsByCode[e.code] ?? 0) + 1;
  if (FATAL.has(e.code)) {
    outcome.abortedBy ??= e;
    return true;
  }
  return false;
}

export const nowNs = (): bigint => process.hrtime.bigint();
