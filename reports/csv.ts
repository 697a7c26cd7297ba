/** `results.csv`: one row per cell, fixed columns (documented in docs/results-schema.md). */
import { stringify } from 'csv-stringify/sync';
import type { CellResult } from '../harness/results.js';

export const CSV_COLUMNS = [
  'suite', 'scenario', 'transport', 'family', 'http_setup', 'wire', 'payload_bytes', 'concurrency', 'batch', 'sampling_steps', 'streaming', 'target_rps', 'load_fraction', 'connect',
  'requests', 'errors', 'p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us', 'mean_us', 'stddev_us', 'rounds_p50_us', 'p50_ci_low_us', 'p50_ci_high_us',
  'floor', 'floor_ratio', 'floor_ratio_ci_low', 'floor_ratio_ci_high',
  'throughput_rps', 'achieved_rps', 'dropped', 'images_per_s', 'accuracy', 'compute_us',
  'overhead_us', 'overhead_ci_low_us', 'overhead_ci_high_us', 'overhead_pct',
  'ttft_p50_us', 'ttft_p99_us', 'itl_p50_us', 'itl_p99_us', 'tokens_per_s', 'rounds', 'stable', 'unstable_reason', 'status', 'error_code', 'id',
] as const;

type Row = Record<(typeof CSV_COLUMNS)[number], string | number | boolean | null | undefined>;

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
    wire: cell.wire,
    payload_bytes: cell.payloadBytes,
    concurrency: cell.concurrency,
    batch: cell.batch,
    sampling_steps: cell.samplingSteps,
    streaming: cell.streaming,
    target_rps: cell.targetRps,
    load_fraction: cell.loadFraction,
    connect: cell.connect,
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
  };
}

export function toCsv(cells: readonly CellResult[]): string {
  return stringify(cells.map(cellRow), { header: true, columns: [...CSV_COLUMNS], cast: { boolean: (v) => (v ? 'true' : 'false') } });
}
