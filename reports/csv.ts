/**
 * `results.csv`: one row per cell. Fixed columns first (documented in docs/results-schema.md), in
 * a fixed order; then every other metric any cell carries (a new suite's own figures), one column
 * each, sorted by name, so no metric is silently dropped and the order does not depend on the run.
 */
import { stringify } from 'csv-stringify/sync';
import type { CellResult } from '../harness/results.js';

export const CSV_COLUMNS = [
  'suite', 'scenario', 'transport', 'family', 'http_setup', 'wire', 'payload_bytes', 'concurrency', 'batch', 'sampling_steps', 'streaming', 'target_rps', 'load_fraction', 'connect', 'tensor_encoding', 'http_stack', 'http_client', 'grpc_server', 'grpc_client',
  'requests', 'errors', 'p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us', 'mean_us', 'stddev_us', 'rounds_p50_us', 'p50_ci_low_us', 'p50_ci_high_us',
  'floor', 'floor_ratio', 'floor_ratio_ci_low', 'floor_ratio_ci_high',
  'throughput_rps', 'achieved_rps', 'dropped', 'images_per_s', 'accuracy', 'compute_us',
  'overhead_us', 'overhead_ci_low_us', 'overhead_ci_high_us', 'overhead_pct',
  'ttft_p50_us', 'ttft_p99_us', 'itl_p50_us', 'itl_p99_us', 'tokens_per_s', 'rounds', 'stable', 'unstable_reason', 'status', 'error_code', 'trial', 'id',
] as const;

type Value = string | number | boolean | null | undefined;
type Row = Record<(typeof CSV_COLUMNS)[number], Value>;

/** The metrics the fixed columns already carry. */
const FIXED_METRICS: ReadonlySet<string> = new Set(['achieved_rps', 'dropped', 'images_per_s', 'accuracy', 'ttft_p50_us', 'ttft_p99_us', 'itl_p50_us', 'itl_p99_us', 'tokens_per_s']);
const FIXED: ReadonlySet<string> = new Set(CSV_COLUMNS);

/** A metric's column: its own name, or `metric_<name>` where that would clash with a fixed column. */
export function metricColumn(metric: string): string {
  return FIXED.has(metric) ? `metric_${metric}` : metric;
}

/** Every metric some cell carries that no fixed column shows, sorted by name. */
export function extraMetrics(cells: readonly CellResult[]): string[] {
  return [...new Set(cells.flatMap((c) => Object.keys(c.metrics)))].filter((m) => !FIXED_METRICS.has(m)).sort();
}

const round = (value: number | undefined | null, digits = 3): number | undefined =>
  value === undefined || value === null || !Number.isFinite(value) ? undefined : Number(value.toFixed(digits));

export function cellRow(cell: CellResult): Row {
  const l = cell.latency;
  const m = cell.metrics;
  return {
    suite: cell.suite,
    scenario: cell.scenario,
    transport: cell.transport,
    family: cell.family,
    http_setup: cell.httpSetup,
    http_stack: cell.httpStack,
    http_client: cell.httpClient,
    grpc_server: cell.grpcServer,
    grpc_client: cell.grpcClient,
    wire: cell.wire,
    payload_bytes: cell.payloadBytes,
    concurrency: cell.concurrency,
    batch: cell.batch,
    sampling_steps: cell.samplingSteps,
    streaming: cell.streaming,
    target_rps: cell.targetRps,
    load_fraction: cell.loadFraction,
    connect: cell.connect,
    tensor_encoding: cell.tensorEncoding,
    requests: cell.requests,
    errors: cell.errors,
    p50_us: round(l?.p50Us),
    p90_us: round(l?.p90Us),
    p99_us: round(l?.p99Us),
    p999_us: round(l?.p999Us),
    max_us: round(l?.maxUs),
    mean_us: round(l?.meanUs),
    stddev_us: round(l?.stddevUs),
    rounds_p50_us: round(cell.roundsP50Us),
    p50_ci_low_us: round(cell.ci95?.p50Us[0]),
    p50_ci_high_us: round(cell.ci95?.p50Us[1]),
    floor: cell.floor?.floor,
    floor_ratio: round(cell.floor?.estimate, 4),
    floor_ratio_ci_low: round(cell.floor?.low, 4),
    floor_ratio_ci_high: round(cell.floor?.high, 4),
    throughput_rps: round(cell.throughputRps, 1),
    achieved_rps: round(m['achieved_rps'], 1),
    dropped: m['dropped'] ?? undefined,
    images_per_s: round(m['images_per_s'], 1),
    accuracy: round(m['accuracy'], 4),
    compute_us: round(cell.overhead?.computeUs),
    overhead_us: round(cell.overhead?.estimate),
    overhead_ci_low_us: round(cell.overhead?.low),
    overhead_ci_high_us: round(cell.overhead?.high),
    overhead_pct: round(cell.overhead?.pct, 2),
    ttft_p50_us: round(m['ttft_p50_us']),
    ttft_p99_us: round(m['ttft_p99_us']),
    itl_p50_us: round(m['itl_p50_us']),
    itl_p99_us: round(m['itl_p99_us']),
    tokens_per_s: round(m['tokens_per_s'], 1),
    rounds: cell.rounds?.length,
    stable: cell.stable,
    unstable_reason: cell.unstableReason,
    status: cell.status,
    error_code: cell.error?.code,
    id: cell.id,
    trial: cell.trial,
  };
}

export function toCsv(cells: readonly CellResult[]): string {
  const extra = extraMetrics(cells);
  const rows = cells.map((c): Record<string, Value> => ({ ...cellRow(c), ...Object.fromEntries(extra.map((m) => [metricColumn(m), round(c.metrics[m], 6)])) }));
  return stringify(rows, { header: true, columns: [...CSV_COLUMNS, ...extra.map(metricColumn)], cast: { boolean: (v) => (v ? 'true' : 'false') } });
}
