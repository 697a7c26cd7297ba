/**
 * The results document (`results.json`), schema version 1, documented in docs/results-schema.md.
 * Plain data only: reports read it, never the transports.
 */
import type { Family } from '../transports/address.js';
import type { GrpcClientName, GrpcServer, HttpClientName, HttpSetup, HttpStack, TransportName } from '../transports/types.js';
import type { ResolvedConfig, ScenarioName, SuiteName } from './config.js';
import type { HarnessErrorCode } from '../transports/errors.js';
import type { Environment } from './environment.js';
import type { LatencySummary } from './stats/recorder.js';

export const RESULTS_SCHEMA_VERSION = 2;

/**
 * Rows that are not a sidecar transport. The echo floors form a 2x2 of {Node client, C client} x
 * {C echo peer, Python sidecar}: `native-pair` (C client, C peer), `native-peer` (our framed
 * client, C peer), `native-client` (C client, the Python framed sidecar); `lean-node` is the
 * leanest possible Node client on a Python sidecar (one socket, one await per round trip), the
 * yardstick for the harness's own clients; `no-op` never leaves the process (the harness's own
 * cost); `in-process` is the model called directly in Python.
 */
export const BASELINE_NAMES = ['native-pair', 'native-peer', 'native-client', 'lean-node', 'no-op', 'in-process'] as const;
export type BaselineName = (typeof BASELINE_NAMES)[number];

/** How http-json carries tensors: OIP's binary tensor data extension, or JSON `data` lists. */
export type TensorEncoding = 'binary' | 'json';

/** The wires a calibration row can speak (`lean-node` speaks both). */
export type CalibrationWire = 'framed' | 'msgpack';

export interface CellKey {
  readonly suite: SuiteName;
  readonly scenario: ScenarioName;
  readonly transport: TransportName | BaselineName;
  readonly family: Family | 'in-process';
  /** Results written before issue 15 only: the gunicorn worker (`sync`, `gthread`), now `httpStack` `gunicorn-sync`/`gunicorn-gthread`. */
  readonly httpSetup?: HttpSetup;
  /** http-json cells: the sidecar's server stack. */
  readonly httpStack?: HttpStack;
  /** http-json cells: the Node HTTP client library. */
  readonly httpClient?: HttpClientName;
  /** grpc cells: the sidecar's gRPC server. */
  readonly grpcServer?: GrpcServer;
  /** grpc cells: the Node gRPC client. */
  readonly grpcClient?: GrpcClientName;
  /** http-json `model` cells: how tensors travel in OIP REST (the binary tensor data extension, or JSON lists). */
  readonly tensorEncoding?: TensorEncoding;
  /** `--connect` cells: the address of the server measured (a set-up the harness did not start). */
  readonly connect?: string;
  /** Calibration rows only: the wire spoken (`lean-node` on `framed` or `msgpack`). */
  readonly wire?: CalibrationWire;
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

/** How a cell is compared: its median latency, or its time per request (throughput scenarios). */
export type FigureKind = 'p50' | 'time-per-request';

/** One cell's block in one round of its interleaved group. */
export interface RoundStat {
  /** The round (0-based); cells of one group with the same round ran in the same moments. */
  readonly round: number;
  /** Its place in that round's shuffled order (0 = first). */
  readonly position: number;
  /** Requests that succeeded in the block, and those that failed. */
  readonly requests: number;
  readonly errors: number;
  readonly durationMs: number;
  readonly p50Us: number;
  /** The figure the cell is compared on (`figure` of the cell), µs. */
  readonly figureUs: number;
  /** Median model compute time per request in the block, when replies carried it. */
  readonly computeP50Us?: number;
  /** Median of latency minus compute time per request in the block, when replies carried it. */
  readonly overheadP50Us?: number;
}

/** An estimate with its 95% interval, from the per-round values it came from. */
export interface IntervalEstimate {
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
  /** Rounds it came from; fewer than 6 cannot give a 95% interval. */
  readonly rounds: number;
}

/** A cell read against its floor, round by round. */
export interface FloorComparison extends IntervalEstimate {
  /** The floor's cell id (in this run, in the same group). */
  readonly floorId: string;
  /** The floor's name as the legend shows it (`native-peer`, `in-process`, ...). */
  readonly floor: string;
  /** Median of the per-round ratios `figure / floor figure`; `low`/`high` its 95% interval. */
  readonly figure: FigureKind;
  /**
   * Whether the floor bounds the cell from below: one request at a time, every request costs at
   * least the floor's round trip. With many in flight it is a reference, not a bound (a server
   * that batches its wake-ups can outpace a thread-per-connection C peer).
   */
  readonly strict: boolean;
  /** A strict floor whose whole interval lies below 1: faster than physics allows; look into it. */
  readonly belowFloor: boolean;
}

/** What the transport adds to the model's own compute time, per request. */
export interface OverheadEstimate extends IntervalEstimate {
  /** The model's compute time per request (median over rounds), µs. */
  readonly computeUs: number;
  /** `estimate / computeUs * 100`; absent when the model took no time (computeUs 0: nothing to be a % of). */
  readonly pct?: number;
  /**
   * `reply`: latency minus the compute time each reply carried, per request; `in-process`: the
   * cell's p50 minus the in-process model's compute time in the same round (its p50 when it reports
   * none), for a wire that carries no timing.
   */
  readonly source: 'reply' | 'in-process';
}

/** Why a cell is not `stable`. */
export type UnstableReason = 'errors' | 'too few samples' | 'still drifting';

export interface CellResult extends CellKey {
  /** Stable identity of the cell across runs (what `compare` matches on). */
  readonly id: string;
  readonly status: 'ok' | 'failed';
  readonly error?: { readonly code: HarnessErrorCode; readonly message: string };
  readonly requests: number;
  readonly errors: number;
  readonly errorsByCode: Partial<Record<HarnessErrorCode, number>>;
  readonly latency?: LatencySummary;
  /**
   * The median of the per-round p50s (µs): the p50 a typical round saw, the estimate `ci95.p50Us`
   * belongs to. `latency.p50Us` pools every request instead, so a cell that drifted can have it
   * outside this interval.
   */
  readonly roundsP50Us?: number;
  /** 95% intervals (µs) of the median of the per-round p50s and of the per-round means. */
  readonly ci95?: { readonly p50Us: [number, number]; readonly meanUs: [number, number] };
  readonly throughputRps?: number;
  readonly durationMs: number;
  /** The interleaved group the cell was measured in: cells of one group share their rounds. */
  readonly group?: string;
  /** How the group's processes were pinned to cores (`shared core 0`, ...); absent when not pinned. */
  readonly pinning?: string;
  readonly figure?: FigureKind;
  /** One entry per round the cell ran in. */
  readonly rounds?: readonly RoundStat[];
  readonly floor?: FloorComparison;
  readonly overhead?: OverheadEstimate;
  /** Its headline figure (the floor ratio, else the per-round figure) is pinned within `stabilityPct`. */
  readonly stable?: boolean;
  readonly unstableReason?: UnstableReason;
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
  /**
   * `running` until the run ends (what a killed harness leaves); `interrupted`: Ctrl-C, a signal,
   * a closed output; `partial`: some cells failed; `failed`: a check failed, or the harness did.
   */
  status: 'running' | 'ok' | 'partial' | 'failed' | 'interrupted';
}

export function cellId(key: CellKey): string {
  const parts: string[] = [key.suite, key.scenario, key.transport, key.family];
  if (key.httpSetup !== undefined) parts.push(`http=${key.httpSetup}`);
  if (key.httpStack !== undefined) parts.push(`http=${key.httpStack}`);
  if (key.grpcServer !== undefined) parts.push(`grpc=${key.grpcServer}`);
  const client = key.httpClient ?? key.grpcClient;
  if (client !== undefined) parts.push(`client=${client}`);
  if (key.tensorEncoding !== undefined) parts.push(`tensors=${key.tensorEncoding}`);
  if (key.connect !== undefined) parts.push(`at=${key.connect}`);
  if (key.wire !== undefined) parts.push(`wire=${key.wire}`);
  if (key.payloadBytes !== undefined) parts.push(`payload=${key.payloadBytes}`);
  parts.push(`c=${key.concurrency}`);
  if (key.batch !== undefined) parts.push(`batch=${key.batch}`);
  if (key.samplingSteps !== undefined) parts.push(`steps=${key.samplingSteps}`);
  if (key.streaming !== undefined) parts.push(key.streaming ? 'stream' : 'unary');
  if (key.loadFraction !== undefined) parts.push(`load=${key.loadFraction}`);
  else if (key.targetRps !== undefined) parts.push(`rate=${key.targetRps}`);
  return parts.join('/');
}

/**
 * The name a cell's series goes by in tables and legends: `framed`, `http-json (uvicorn, fetch)`,
 * `grpc (aio-uvloop, lean-http2)`, `lean-node (msgpack)`, `http-json (tcp:10.0.0.2:5000, undici)`,
 * `http-json (gunicorn-gthread, undici, json)`; `http-json (gthread)` in results before issue 15.
 */
export function seriesName(key: Pick<CellKey, 'transport' | 'httpSetup' | 'httpStack' | 'httpClient' | 'grpcServer' | 'grpcClient' | 'connect' | 'wire' | 'tensorEncoding'>): string {
  const server = key.httpSetup ?? key.httpStack ?? key.grpcServer ?? key.connect ?? (key.transport === 'lean-node' ? key.wire : undefined);
  const qualifiers = [server, key.httpClient ?? key.grpcClient, key.tensorEncoding].filter((q) => q !== undefined);
  return qualifiers.length === 0 ? key.transport : `${key.transport} (${qualifiers.join(', ')})`;
}

/** Just the key fields of a cell (what its `id` is made of). */
export function keyOf(cell: CellKey): CellKey {
  const { suite, scenario, transport, family, httpSetup, httpStack, httpClient, grpcServer, grpcClient, tensorEncoding, connect, wire, payloadBytes, concurrency, batch, samplingSteps, streaming, targetRps, loadFraction } = cell;
  const optional = { httpSetup, httpStack, httpClient, grpcServer, grpcClient, tensorEncoding, connect, wire, payloadBytes, batch, samplingSteps, streaming, targetRps, loadFraction };
  return { suite, scenario, transport, family, concurrency, ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)) };
}
