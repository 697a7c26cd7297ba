/**
 * Comparing two runs cell by cell (matched on `id`): the regression gate behind `sidecar-bench compare`.
 * Pure: results in, a comparison out, and its markdown. The statistics are in docs/reading-the-report.md.
 * The significance test is the caller's (harness/cli/compare.ts passes Mann-Whitney U from
 * harness/stats/): reports compare and render plain data and import no statistics of their own.
 */
import { BASELINE_NAMES, type CellResult, type RunResult } from '../harness/results.js';
import { formatCount } from './summary.js';
import { formatDuration } from './units.js';

export const COMPARE_METRICS = ['p50', 'mean', 'throughput'] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];
export type Verdict = 'regressed' | 'improved' | 'unchanged' | 'new' | 'missing' | 'failed';

export interface CompareOptions {
  /** Smallest relative change (percent) that counts, e.g. 10. */
  readonly thresholdPct: number;
  readonly metric: CompareMetric;
  /** Significance level of the Mann-Whitney test (default 0.01). */
  readonly alpha?: number;
  /** What the values are: microseconds (or req/s), or multiples of the floor (`compare --relative`). */
  readonly unit?: 'absolute' | 'floor';
}

export interface CellComparison {
  readonly id: string;
  /** What was compared: the chosen metric, or `throughput` for a cell with no latency. */
  readonly measure: CompareMetric;
  readonly base?: number;
  readonly head?: number;
  /** (head - base) / base, percent. */
  readonly changePct?: number;
  /** Mann-Whitney p-value on the raw latency samples; absent when not tested. */
  readonly pValue?: number;
  /** p below the significance level, whatever the size of the change. */
  readonly significant?: boolean;
  readonly verdict: Verdict;
  /** True when this cell fails the comparison (exit 1). */
  readonly gate: boolean;
  readonly note?: string;
}

export interface Comparison {
  readonly metric: CompareMetric;
  readonly thresholdPct: number;
  readonly alpha: number;
  readonly unit: 'absolute' | 'floor';
  readonly cells: readonly CellComparison[];
  readonly counts: Readonly<Record<Verdict, number>>;
  /** Differences between the two environments that make the numbers less comparable. */
  readonly notes: readonly string[];
  readonly failed: boolean;
}

export const DEFAULT_ALPHA = 0.01;

/** Two samples in, the two-sided p-value that they come from the same distribution out. */
export type SignificanceTest = (base: readonly number[], head: readonly number[]) => number;

/** All trials of one cell id, pooled: any failed trial fails the cell. */
interface Pooled {
  readonly ok: boolean;
  readonly code?: string;
  readonly p50?: number;
  readonly mean?: number;
  readonly throughput?: number;
  readonly samples: number[];
}

const centre = (values: number[]): number | undefined => {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const defined = (values: (number | undefined)[]): number[] => values.filter((v): v is number => v !== undefined && Number.isFinite(v));

function pool(cells: readonly CellResult[]): Pooled {
  const failed = cells.find((c) => c.status !== 'ok');
  return {
    ok: failed === undefined,
    ...(failed?.error === undefined ? {} : { code: failed.error.code }),
    ...optional('p50', centre(defined(cells.map((c) => c.latency?.p50Us)))),
    ...optional('mean', centre(defined(cells.map((c) => c.latency?.meanUs)))),
    ...optional('throughput', centre(defined(cells.map((c) => c.throughputRps)))),
    samples: cells.flatMap((c) => c.samplesUs ?? []),
  };
}

function optional<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

function byId(result: RunResult): Map<string, CellResult[]> {
  const map = new Map<string, CellResult[]>();
  for (const c of result.cells) map.set(c.id, [...(map.get(c.id) ?? []), c]);
  return map;
}

// The floors measure the machine (or the model), not the code under test: shown, never gating.
const FLOORS: ReadonlySet<string> = new Set(BASELINE_NAMES);

function floorsDoNotGate(cell: CellComparison): CellComparison {
  const transport = cell.id.split('/')[2] ?? '';
  if (!FLOORS.has(transport) || !cell.gate) return cell;
  return { ...cell, gate: false, note: `${cell.note === undefined ? '' : `${cell.note}; `}a floor row: reported, not gated` };
}

function compareCell(id: string, base: Pooled, head: Pooled, options: Required<CompareOptions>, test: SignificanceTest): CellComparison {
  if (!head.ok) return { id, measure: options.metric, verdict: 'failed', gate: base.ok, note: `head failed: ${head.code ?? 'unknown'}${base.ok ? '' : ' (failed in base too)'}` };
  if (!base.ok) return { id, measure: options.metric, verdict: 'new', gate: false, note: `base failed: ${base.code ?? 'unknown'}` };
  // A cell with no latency (throughput only) is compared on throughput.
  const measure: CompareMetric = options.metric !== 'throughput' && (base[options.metric] === undefined || head[options.metric] === undefined) ? 'throughput' : options.metric;
  const b = base[measure];
  const h = head[measure];
  if (b === undefined || h === undefined || b <= 0) return { id, measure, verdict: 'unchanged', gate: false, note: `no ${measure} to compare` };
  const changePct = ((h - b) / b) * 100;
  const worse = measure === 'throughput' ? changePct < -options.thresholdPct : changePct > options.thresholdPct;
  const better = measure === 'throughput' ? changePct > options.thresholdPct : changePct < -options.thresholdPct;
  const values = { id, measure, base: b, head: h, changePct };
  if (measure === 'throughput' || base.samples.length === 0 || head.samples.length === 0) {
    // Not tested: the ratio alone decides.
    const verdict: Verdict = worse ? 'regressed' : better ? 'improved' : 'unchanged';
    return { ...values, verdict, gate: verdict === 'regressed', note: measure === 'throughput' ? 'ratio only' : 'no samples: ratio only' };
  }
  const pValue = test(base.samples, head.samples);
  const significant = pValue < options.alpha;
  const verdict: Verdict = significant && worse ? 'regressed' : significant && better ? 'improved' : 'unchanged';
  return { ...values, pValue, significant, verdict, gate: verdict === 'regressed' };
}

const ENV_FIELDS = ['cpuModel', 'cores', 'os', 'arch', 'node', 'python', 'torch', 'gpu'] as const;

function environmentNotes(base: RunResult, head: RunResult): string[] {
  return ENV_FIELDS.filter((k) => base.environment[k] !== head.environment[k]).map(
    (k) => `environment differs: ${k} \`${String(base.environment[k])}\` (base) vs \`${String(head.environment[k])}\` (head)`,
  );
}

/** The native C peer does not change with the code under test: when it moves, the machine did. */
function calibrationNote(base: RunResult, cells: readonly CellComparison[], thresholdPct: number): string[] {
  const peers = new Set(base.cells.filter((c) => c.transport === 'native-peer').map((c) => c.id));
  const changes = cells.filter((c) => peers.has(c.id) && c.changePct !== undefined).map((c) => c.changePct as number);
  const typical = centre(changes);
  if (typical === undefined || Math.abs(typical) <= thresholdPct) return [];
  return [`the native-peer calibration rows moved too (median ${typical >= 0 ? '+' : ''}${typical.toFixed(1)}%): part of every change may be the machine, not the code`];
}

export function compareResults(base: RunResult, head: RunResult, options: CompareOptions, test: SignificanceTest): Comparison {
  const resolved: Required<CompareOptions> = { alpha: DEFAULT_ALPHA, unit: 'absolute', ...options };
  const baseCells = byId(base);
  const headCells = byId(head);
  const cells: CellComparison[] = [];
  for (const [id, group] of baseCells) {
    const other = headCells.get(id);
    cells.push(other === undefined ? { id, measure: resolved.metric, verdict: 'missing', gate: false } : floorsDoNotGate(compareCell(id, pool(group), pool(other), resolved, test)));
  }
  for (const id of headCells.keys()) if (!baseCells.has(id)) cells.push({ id, measure: resolved.metric, verdict: 'new', gate: false });
  const counts: Record<Verdict, number> = { regressed: 0, improved: 0, unchanged: 0, new: 0, missing: 0, failed: 0 };
  for (const c of cells) counts[c.verdict] += 1;
  return { metric: resolved.metric, thresholdPct: resolved.thresholdPct, alpha: resolved.alpha, unit: resolved.unit, cells, counts, notes: [...environmentNotes(base, head), ...calibrationNote(base, cells, resolved.thresholdPct)], failed: cells.some((c) => c.gate) };
}

const LABELS: Record<CompareMetric, string> = { p50: 'p50', mean: 'mean', throughput: 'throughput (req/s)' };
const FLOOR_LABELS: Record<CompareMetric, string> = { p50: 'p50 (× floor)', mean: 'mean (× floor)', throughput: 'throughput (× floor rate)' };

function formatValue(measure: CompareMetric, value: number | undefined, unit: Comparison['unit']): string {
  if (value === undefined) return '';
  if (unit === 'floor') return value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 3);
  return measure === 'throughput' ? formatCount(value) : formatDuration(value);
}

export function formatPValue(p: number | undefined): string {
  if (p === undefined) return 'not tested';
  if (p < 1e-300) return '< 1e-300';
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}

const md = (text: string): string => text.replace(/\|/g, '\\|');

function row(c: CellComparison, metric: CompareMetric, unit: Comparison['unit']): string {
  const suffix = c.measure === metric ? '' : ` (${c.measure})`;
  const change = c.changePct === undefined ? '' : `${c.changePct >= 0 ? '+' : ''}${c.changePct.toFixed(1)}%`;
  const significant = c.pValue === undefined ? (c.changePct === undefined ? '' : 'not tested') : c.significant === true ? 'yes' : 'no';
  const verdict = c.gate ? `**${c.verdict}**` : c.verdict;
  const note = c.note === undefined ? '' : ` (${md(c.note)})`;
  const p = c.changePct === undefined ? '' : formatPValue(c.pValue);
  return `| \`${md(c.id)}\` | ${formatValue(c.measure, c.base, unit)}${suffix} | ${formatValue(c.measure, c.head, unit)}${suffix} | ${change} | ${p} | ${significant} | ${verdict}${note} |`;
}

export function formatMarkdown(c: Comparison): string {
  const tally = (Object.entries(c.counts) as [Verdict, number][]).filter(([, n]) => n > 0).map(([v, n]) => `${n} ${v}`).join(', ');
  const gated = c.cells.filter((x) => !FLOORS.has(x.id.split('/')[2] ?? '')).length;
  const gates = c.cells.filter((x) => x.gate).length;
  const outcome = c.failed ? `**FAIL**: ${gates} of ${gated} gated cells regressed or failed.` : `**ok**: none of ${gated} gated cells regressed or failed.`;
  const label = (c.unit === 'floor' ? FLOOR_LABELS : LABELS)[c.metric];
  return [
    `### sidecar-bench compare: ${c.metric}, threshold ${c.thresholdPct}%, Mann-Whitney p < ${c.alpha}`,
    '',
    outcome,
    `Verdicts of all ${c.cells.length} cells, floors included (floors never gate): ${tally}.`,
    ...c.notes.map((n) => `\n> ${md(n)}`),
    '',
    `| cell | base ${label} | head ${label} | change | p-value | significant | verdict |`,
    '|---|---:|---:|---:|---:|:---:|---|',
    ...c.cells.map((x) => row(x, c.metric, c.unit)),
    '',
  ].join('\n');
}
