/**
 * The results document (`results.json`), schema version 1, documented in docs/results-schema.md.
 * Plain data only: reports read it, never the transports.
 */
import type { Family } from '../transports/address.js';
import type { HttpSetup, TransportName } from '../transports/types.js';
import type { ResolvedConfig, ScenarioName, SuiteName } from './config.js';
import type { HarnessErrorCode } from './errors.js';
import type { Environment } from './environment.js';
import type { LatencySummary } from './stats/recorder.js';
import type { WindowStat } from './load/windows.js';

export const RESULTS_SCHEMA_VERSION = 1;

/** Rows that are not a sidecar transport: the IPC floor, the harness floor, the model in-process. */
export type BaselineName = 'native-peer' | 'no-op' | 'in-process';

export interface CellKey {
  readonly suite: SuiteName;
  readonly scenario: ScenarioName;
  readonly transport: TransportName | BaselineName;
  readonly family: Family | 'in-process';
  readonly httpSetup?: HttpSetup;
  readonly payloadBytes?: number;
  readonly concurrency: number;
  readonly batch?: number;
  readonly samplingSteps?: number;
  readonly streaming?: boolean;
  readonly targetRps?: number;
  /**
   * For server cells whose rate is set relative to the model's measured capacity (cifar, gemma):
   * the fraction. The id uses it instead of the rate, which differs from run to run.
   */
  readonly loadFraction?: number;
}

export interface CellResult extends CellKey {
  /** Stable identity of the cell across runs (what `compare` matches on). */
  readonly id: string;
  readonly status: 'ok' | 'failed';
  readonly error?: { readonly code: HarnessErrorCode; readonly message: string };
  readonly requests: number;
  readonly errors: number;
  readonly errorsByCode: Partial<Record<HarnessErrorCode, number>>;
  readonly latency?: LatencySummary;
  /** Bootstrap 95% confidence intervals, microseconds. */
  readonly ci95?: { readonly p50Us: [number, number]; readonly meanUs: [number, number] };
  readonly throughputRps?: number;
  readonly durationMs: number;
  readonly windows?: readonly WindowStat[];
  readonly stable?: boolean;
  /** Raw latency samples in microseconds (a uniform reservoir when there were more). */
  readonly samplesUs?: readonly number[];
  /** HdrHistogram compressed base64, nanoseconds. */
  readonly histogram?: string;
  /** Suite-specific figures in snake_case with units (images_per_s, accuracy, ttft_p50_us, ...). */
  readonly metrics: Readonly<Record<string, number | null>>;
  /** Ready-line facts of the sidecar that served the cell. */
  readonly sidecar?: Readonly<Record<string, unknown>>;
  readonly trial?: number;
}

/** A run-level check (agreement across transports, accuracy): fails the run when `ok` is false. */
export interface RunCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly data?: unknown;
}

export interface RunResult {
  readonly schemaVersion: typeof RESULTS_SCHEMA_VERSION;
  readonly harnessVersion: string;
  readonly startedAt: string;
  finishedAt: string;
  readonly argv: readonly string[];
  readonly config: ResolvedConfig;
  readonly environment: Environment;
  readonly cells: CellResult[];
  readonly checks: RunCheck[];
  /** `interrupted`: Ctrl-C; `partial`: some cells failed; the rest is what was measured. */
  status: 'ok' | 'partial' | 'failed' | 'interrupted';
}

export function cellId(key: CellKey): string {
  const parts: string[] = [key.suite, key.scenario, key.transport, key.family];
  if (key.httpSetup !== undefined) parts.push(`http=${key.httpSetup}`);
  if (key.payloadBytes !== undefined) parts.push(`payload=${key.payloadBytes}`);
  parts.push(`c=${key.concurrency}`);
  if (key.batch !== undefined) parts.push(`batch=${key.batch}`);
  if (key.samplingSteps !== undefined) parts.push(`steps=${key.samplingSteps}`);
  if (key.streaming !== undefined) parts.push(key.streaming ? 'stream' : 'unary');
  if (key.loadFraction !== undefined) parts.push(`load=${key.loadFraction}`);
  else if (key.targetRps !== undefined) parts.push(`rate=${key.targetRps}`);
  return parts.join('/');
}
