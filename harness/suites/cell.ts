/** Turning a load outcome into a CellResult; one place for the status and error rules. */
import type { HarnessError } from '../errors.js';
import type { LoadOutcome } from '../load/outcome.js';
import { cellId, type CellKey, type CellResult } from '../results.js';
import { bootstrapCi } from '../stats/bootstrap.js';

export interface CellExtras {
  readonly metrics?: Record<string, number | null>;
  readonly sidecar?: Record<string, unknown>;
  readonly trial?: number;
  /** When the connection was lost because the process died, report that instead. */
  readonly crashed?: boolean;
}

export function cellFromOutcome(key: CellKey, outcome: LoadOutcome, extras: CellExtras = {}): CellResult {
  const latency = outcome.recorder.summary();
  const samples = outcome.recorder.samplesUs();
  const aborted = outcome.abortedBy;
  const error =
    aborted === undefined
      ? undefined
      : { code: extras.crashed === true && aborted.code === 'SIDECAR_CLOSED' ? ('SIDECAR_CRASHED' as const) : aborted.code, message: aborted.message };
  const durationMs = outcome.durationNs / 1e6;
  return {
    ...key,
    id: cellId(key),
    status: error === undefined ? 'ok' : 'failed',
    ...(error === undefined ? {} : { error }),
    requests: outcome.requests,
    errors: outcome.errors,
    errorsByCode: { ...outcome.errorsByCode },
    ...(latency === undefined ? {} : { latency }),
    ...(samples.length >= 20 ? { ci95: { p50Us: bootstrapCi(samples, 'median'), meanUs: bootstrapCi(samples, 'mean') } } : {}),
    ...(durationMs > 0 ? { throughputRps: ((outcome.requests - outcome.errors) * 1000) / durationMs } : {}),
    durationMs,
    windows: outcome.windows,
    stable: outcome.stable,
    samplesUs: samples,
    histogram: outcome.recorder.encodedHistogram(),
    metrics: extras.metrics ?? {},
    ...(extras.sidecar === undefined ? {} : { sidecar: extras.sidecar }),
    ...(extras.trial === undefined ? {} : { trial: extras.trial }),
  };
}

/** A cell that could not be measured at all (its sidecar would not start, say). */
export function failedCell(key: CellKey, error: HarnessError, sidecar?: Record<string, unknown>): CellResult {
  return {
    ...key,
    id: cellId(key),
    status: 'failed',
    error: { code: error.code, message: error.message },
    requests: 0,
    errors: 0,
    errorsByCode: {},
    durationMs: 0,
    metrics: {},
    ...(sidecar === undefined ? {} : { sidecar }),
  };
}
