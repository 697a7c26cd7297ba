/**
 * Reading an A/B run: each cell of head against the same cell of base, measured in the same rounds
 * (harness/ab/), as the median of the per-round ratios head / base with its 95% interval. A cell
 * regresses only when the slowdown is both significant (the interval lies above 1) and beyond the
 * threshold (the median ratio exceeds 1 + threshold). Pure: cells in, a verdict and its markdown out.
 */
import { TRANSPORT_NAMES } from '../transports/types.js';
import type { CellResult } from '../harness/results.js';
import { medianInterval, perRoundRatios, type Interval } from '../harness/stats/intervals.js';
import { formatRatio, formatUs } from './summary.js';

export type AbVerdict = 'regressed' | 'improved' | 'unchanged' | 'failed' | 'not compared';

export interface CellAb {
  readonly id: string;
  /** Transport cells gate; floors and the in-process model are controls (both sides should agree). */
  readonly gated: boolean;
  /** The median of each side's per-round p50s, µs. */
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

/** head / base round by round for two cells of the same rounds. */
export function headOverBase(base: CellResult, head: CellResult): Interval | undefined {
  return medianInterval(perRoundRatios(byRound(head), byRound(base)));
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
  const heads = new Map(head.map((c) => [c.id, c]));
  const cells: CellAb[] = [];
  for (const b of base) {
    const h = heads.get(b.id);
    if (h === undefined) continue;
    const gated = (TRANSPORT_NAMES as readonly string[]).includes(b.transport);
    const us = { ...(b.roundsP50Us === undefined ? {} : { baseUs: b.roundsP50Us }), ...(h.roundsP50Us === undefined ? {} : { headUs: h.roundsP50Us }) };
    if (h.status !== 'ok' || b.status !== 'ok') {
      const headFailed = h.status !== 'ok' && b.status === 'ok';
      const why = h.status !== 'ok' ? `head failed: ${h.error?.code ?? ''}` : `base failed: ${b.error?.code ?? ''}`;
      cells.push({ id: b.id, gated, ...us, significant: false, verdict: headFailed ? 'failed' : 'not compared', note: why });
      continue;
    }
    const ratio = headOverBase(b, h);
    cells.push({ id: b.id, gated, ...us, ...(ratio === undefined ? {} : { ratio }), ...verdictOf(ratio, thresholdPct) });
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
    return `| \`${c.id}\`${c.gated ? '' : ' (control)'} | ${formatUs(c.baseUs)} | ${formatUs(c.headUs)} | ${ratio} | ${c.ratio?.n ?? ''} | ${c.significant ? 'yes' : 'no'} | ${verdict}${c.note === undefined ? '' : ` (${c.note})`} |`;
  });
  return [
    `### sidecar-bench ab: head ${names.head} against base ${names.base}, threshold ${t}%`,
    '',
    headline,
    `A cell regresses when head / base, taken round by round in the same rounds, lies wholly above 1 (significant) and its median exceeds ${1 + t / 100}. Controls (floors, the model in-process) never gate.`,
    '',
    '| cell | base p50 (µs) | head p50 (µs) | head / base [95% CI] | rounds | significant | verdict |',
    '|---|---:|---:|---:|---:|:---:|---|',
    ...rows,
    '',
  ].join('\n');
}
