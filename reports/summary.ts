/** The report's tables as display strings: one summary row per cell, and the environment. Pure. */
import type { Environment } from '../harness/environment.js';
import type { CellResult } from '../harness/results.js';
import { formatDuration, formatDurationInterval } from './units.js';

/** One row of the summary table; every field is ready to print (and still to be escaped). */
export interface SummaryRow {
  readonly id: string;
  readonly ok: boolean;
  readonly requests: string;
  /** Failed requests, with their codes: `3 (TIMEOUT 2, MISMATCH 1)`. */
  readonly errors: string;
  /** `p50 [ci low, ci high]` in µs, ms or s: the median of the per-round p50s, with its interval. */
  readonly p50: string;
  readonly p99: string;
  /** `1.17 [1.15, 1.20] native-peer`: the cell over its floor, round by round. */
  readonly floor: string;
  /** `184 µs [163, 218], 10.2%`: what the transport adds to the model's compute time. */
  readonly overhead: string;
  readonly throughput: string;
  /** `yes`, or `no: still drifting`. */
  readonly stable: string;
  /** The cell sits below a floor that bounds it. */
  readonly belowFloor: boolean;
  /** `ok`, or `failed: CODE`. */
  readonly status: string;
  /** The failure's message, for a tooltip. */
  readonly message: string;
}

export function formatCount(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? '' : Math.round(n).toLocaleString('en-US');
}

function errorsText(cell: CellResult): string {
  const codes = Object.entries(cell.errorsByCode).filter(([, n]) => (n ?? 0) > 0);
  if (cell.errors === 0 || codes.length === 0) return formatCount(cell.errors);
  return `${formatCount(cell.errors)} (${codes.map(([code, n]) => `${code} ${n}`).join(', ')})`;
}

/** A ratio with its interval: `1.17 [1.15, 1.20]`. */
export function formatRatio(estimate: number, low: number, high: number): string {
  const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  return `${f(estimate)} [${f(low)}, ${f(high)}]`;
}

export function summaryRow(cell: CellResult): SummaryRow {
  const l = cell.latency;
  const ci = cell.ci95?.p50Us;
  const p50 = l === undefined ? '' : ci === undefined ? formatDuration(l.p50Us) : formatDurationInterval(cell.roundsP50Us ?? l.p50Us, ci[0], ci[1]);
  const f = cell.floor;
  const o = cell.overhead;
  return {
    id: cell.id,
    ok: cell.status === 'ok',
    requests: formatCount(cell.requests),
    errors: errorsText(cell),
    p50,
    p99: formatDuration(l?.p99Us),
    floor: f === undefined ? '' : `${formatRatio(f.estimate, f.low, f.high)} × ${f.floor}`,
    overhead: o === undefined ? '' : `${formatDurationInterval(o.estimate, o.low, o.high)}, ${o.pct === undefined ? 'no model time' : `${o.pct.toFixed(1)}%`}`,
    throughput: formatCount(cell.throughputRps),
    stable: cell.stable === undefined ? '' : cell.stable ? 'yes' : `no: ${cell.unstableReason ?? 'unknown'}`,
    belowFloor: f?.belowFloor === true,
    status: cell.status === 'ok' ? 'ok' : `failed: ${cell.error?.code ?? 'unknown'}`,
    message: cell.error?.message ?? '',
  };
}

export function summaryRows(cells: readonly CellResult[]): SummaryRow[] {
  return cells.map(summaryRow);
}

const LABELS: Record<keyof Environment, string> = {
  cpuModel: 'CPU',
  cores: 'cores',
  memoryBytes: 'memory',
  os: 'OS',
  arch: 'architecture',
  node: 'Node.js',
  python: 'Python',
  torch: 'torch',
  cudaAvailable: 'CUDA available',
  gpu: 'GPU',
  gpuCount: 'CUDA devices',
  gpuDriver: 'NVIDIA driver',
  torchCuda: 'torch built for CUDA',
  gitCommit: 'git commit',
  gitDirty: 'uncommitted changes',
  harnessVersion: 'harness version',
  hostname: 'hostname',
  cpuPinning: 'CPU pinning',
};

function environmentValue(key: keyof Environment, value: Environment[keyof Environment]): string {
  if (value === null || value === undefined) return 'none';
  if (key === 'memoryBytes' && typeof value === 'number') return `${(value / 2 ** 30).toFixed(1)} GiB (${value} B)`;
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

/** Every Environment field as [label, value], in a fixed order; unknown extra fields come last, as they are. */
export function environmentRows(env: Environment): [string, string][] {
  const known = (Object.keys(LABELS) as (keyof Environment)[]).map((k): [string, string] => [LABELS[k], environmentValue(k, env[k])]);
  const extra = Object.entries(env)
    .filter(([k]) => !(k in LABELS))
    .map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
  return [...known, ...extra];
}
