import { HarnessError, toHarnessError, type HarnessErrorCode } from '../../transports/errors.js';

/** The failure counters every kind of load keeps; failures are counted, not thrown. */
export interface FailureCounts {
  requests: number;
  errors: number;
  readonly errorsByCode: Partial<Record<HarnessErrorCode, number>>;
  /** Set when the run stopped early because going on could not work (connection lost, timeout). */
  abortedBy: HarnessError | undefined;
}

/** Errors after which a connection (and so the cell) cannot go on. */
const FATAL: ReadonlySet<HarnessErrorCode> = new Set(['SIDECAR_CLOSED', 'SIDECAR_CRASHED', 'CONNECT_FAILED', 'TIMEOUT', 'PROTOCOL_ERROR', 'ABORTED']);

/** Count a failed request; returns true when the run must stop. */
export function countError(counts: FailureCounts, error: unknown): boolean {
  const e = toHarnessError(error);
  counts.errors += 1;
  counts.requests += 1;
  counts.errorsByCode[e.code] = (counts.errorsByCode[e.code] ?? 0) + 1;
  if (FATAL.has(e.code)) {
    counts.abortedBy ??= e;
    return true;
  }
  return false;
}

export const nowNs = (): bigint => process.hrtime.bigint();
