/**
 * Reading an A/B run: each cell of head against the same cell of base, measured in the same rounds
 * (harness/ab/), as the median of the per-round ratios head / base with its 95% interval. A cell
 * regresses only when the slowdown is both significant (the interval lies above 1) and beyond the
 * threshold (the median ratio exceeds 1 + threshold). Pure: cells in, a verdict and its markdown out.
 */
import { TRANSPORT_NAMES } from '../transports/types.js';
import type { CellResult } from '../harness/results.js';
import { medianInterval, perRoundRatios, replicaSeries, type Interval } from '../harness/stats/intervals.js';
import { formatRatio } from './summary.js';
import { formatDuration } from './units.js';

export type AbVerdict = 'regressed' | 'improved' | 'unchanged' | 'failed' | 'not compared';

export interface CellAb {
  readonly id: string;
  /** Transport cells gate; floors and the in-process model are controls (both sides should agree). */
  readonly gated: boolean;
  /** The median of each side's per-round p50s, µs (the geometric mean over its replicas). */
  readonly baseUs?: number;
  readonly headUs?: number;
  readonly ratio?: Interval;
  /** The interval lies wholly above or below 1. */
  readonly significant: boolean;
  readonly verdict: AbVerdict;
  readonly note?: string;
}

export interface AbComparison {
  readonly thresholdPct: number;
  readonly cells: readonly CellAb[];
  /** Gated cells that regressed, or that failed on head while ok on base. */
  readonly failures: number;
  readonly gated: number;
  readonly failed: boolean;
}

const byRound = (cell: CellResult): Map<number, number> => new Map((cell.rounds ?? []).filter((r) => Number.isFinite(r.figureUs)).map((r) => [r.round, r.figureUs]));

/** A side's cell: one per replica (`trial`), measured in the same rounds. */
type Replicas = readonly CellResult[];

/** head / base round by round for a cell measured in the same rounds, each side the geometric mean of its replicas. */
export function headOverBase(base: CellResult | Replicas, head: CellResult | Replicas): Interval | undefined {
  const series = (c: CellResult | Replicas) => replicaSeries((Array.isArray(c) ? (c as Replicas) : [c as CellResult]).map(byRound));
  return medianInterval(perRoundRatios(series(head), series(base)));
}

function byId(cells: readonly CellResult[]): Map<string, CellResult[]> {
  const map = new Map<string, CellResult[]>();
  for (const cell of cells) (map.get(cell.id) ?? map.set(cell.id, []).get(cell.id))?.push(cell);
  return map;
}

/** The geometric mean of the replicas' medians of per-round p50s. */
function replicaUs(cells: Replicas): number | undefined {
  const values = cells.map((c) => c.roundsP50Us).filter((v): v is number => v !== undefined && v > 0);
  return values.length === cells.length && values.length > 0 ? Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length) : undefined;
}

function verdictOf(ratio: Interval | undefined, thresholdPct: number): { verdict: AbVerdict; significant: boolean } {
  if (ratio === undefined) return { verdict: 'not compared', significant: false };
  const t = thresholdPct / 100;
  const slower = ratio.covered && ratio.low > 1;
  const faster = ratio.covered && ratio.high < 1;
  if (slower && ratio.estimate > 1 + t) return { verdict: 'regressed', significant: true };
  if (faster && ratio.estimate < 1 - t) return { verdict: 'improved', significant: true };
  return { verdict: 'unchanged', significant: slower || faster };
}

export function compareSides(base: readonly CellResult[], head: readonly CellResult[], thresholdPct: number): AbComparison {
  const heads = byId(head);
  const cells: CellAb[] = [];
  for (const [id, b] of byId(base)) {
    const h = heads.get(id);
    if (h === undefined) continue;
    const first = b[0] as CellResult;
    const gated = (TRANSPORT_NAMES as readonly string[]).includes(first.transport);
    const [baseUs, headUs] = [replicaUs(b), replicaUs(h)];
    const us = { ...(baseUs === undefined ? {} : { baseUs }), ...(headUs === undefined ? {} : { headUs }) };
    const failedOf = (cs: Replicas) => cs.find((c) => c.status !== 'ok');
    const [baseFailed, headFailed] = [failedOf(b), failedOf(h)];
    if (baseFailed !== undefined || headFailed !== undefined) {
      const why = headFailed !== undefined ? `head failed: ${headFailed.error?.code ?? ''}` : `base failed: ${baseFailed?.error?.code ?? ''}`;
      cells.push({ id, gated, ...us, significant: false, verdict: headFailed !== undefined && baseFailed === undefined ? 'failed' : 'not compared', note: why });
      continue;
    }
    const ratio = headOverBase(b, h);
    cells.push({ id, gated, ...us, ...(ratio === undefined ? {} : { ratio }), ...verdictOf(ratio, thresholdPct) });
  }
  const failures = cells.filter((c) => c.gated && (c.verdict === 'regressed' || c.verdict === 'failed')).length;
  return { thresholdPct, cells, failures, gated: cells.filter((c) => c.gated).length, failed: failures > 0 };
}

export function formatAb(comparison: AbComparison, names: { base: string; head: string }): string {
  const t = comparison.thresholdPct;
  const headline = comparison.failed
    ? `**FAIL**: ${comparison.failures} of ${comparison.gated} gated cells regressed or failed.`
    : `**ok**: none of ${comparison.gated} gated cells regressed.`;
  const rows = comparison.cells.map((c) => {
    const ratio = c.ratio === undefined ? '' : `${formatRatio(c.ratio.estimate, c.ratio.low, c.ratio.high)}`;
    const verdict = c.verdict === 'regressed' || c.verdict === 'failed' ? `**${c.verdict}**` : c.verdict;
    return `| \`${c.id}\`${c.gated ? '' : ' (control)'} | ${formatDuration(c.baseUs)} | ${formatDuration(c.headUs)} | ${ratio} | ${c.ratio?.n ?? ''} | ${c.significant ? 'yes' : 'no'} | ${verdict}${c.note === undefined ? '' : ` (${c.note})`} |`;
  });
  return [
    `### sidecar-bench ab: head ${names.head} against base ${names.base}, threshold ${t}%`,
    '',
    headline,
    `A cell regresses when head / base, taken round by round in the same rounds, lies wholly above 1 (significant) and its median exceeds ${1 + t / 100}. Controls (floors, the model in-process) never gate.`,
    '',
    '| cell | base p50 | head p50 | head / base [95% CI] | rounds | significant | verdict |',
    '|---|---:|---:|---:|---:|:---:|---|',
    ...rows,
    '',
  ].join('\n');
}
