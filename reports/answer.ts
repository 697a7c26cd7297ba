/**
 * The answer first: per suite, which transport, what it costs, and whether the numbers hold. A pure
 * function of the results (`answerFor`), rendered for the terminal (`answerText`, printed at the end
 * of every run and by `sidecar-bench report`) and at the top of report.html (answer-html.ts).
 *
 * Generic over suites: a suite is read from its cells alone, so a new suite (`model`, or anything
 * a user adds) gets its table with no edit here. A suite with an in-process cell is a model suite:
 * its costs are also given as a share of the model's own time.
 */
import { BASELINE_NAMES, seriesName, type CellResult, type RunResult } from '../harness/results.js';
import { medianInterval, perRoundDifferences, type Interval } from '../harness/stats/intervals.js';
import { figureByRound, sameRoundRatio } from './floors.js';
import { addedOver, addedText, p50Text, stableText, table } from './answer-format.js';
import { ladderText } from './ladder-format.js';
import { formatBytes, formatDuration, formatTimes, type MicroSymbol } from './units.js';

/** What a transport adds per request, and over what. */
export interface AddedCost {
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
  /** Rounds the interval came from; below 6 it is not a 95% interval. */
  readonly rounds: number;
  /** `model compute` (latency minus the compute time each reply carried), or the floor's name. */
  readonly over: string;
  /** The share of the model's own time, for model suites. */
  readonly pct?: number;
}

export interface AnswerRow {
  readonly id: string;
  /** As in every legend: `framed`, `http-json (gthread)`, `in-process`. */
  readonly transport: string;
  readonly family: string;
  /** Gemma-like suites: `stream` or `unary`. */
  readonly mode?: 'stream' | 'unary';
  /** The floor the group's transports are read against, shown for reference. */
  readonly floor: boolean;
  readonly ok: boolean;
  readonly errorCode?: string;
  /** Median of the per-round p50s (else the pooled p50) and its 95% interval, µs. */
  readonly p50Us?: number;
  readonly p50Interval?: readonly [number, number];
  readonly p99Us?: number;
  readonly added?: AddedCost;
  readonly stable?: boolean;
  readonly unstableReason?: string;
  /** Where it stands against the fastest of the cells measured in the same rounds. */
  readonly standing: Standing;
  /** `fastest`, `within noise of framed`, `19.3x slower than framed [18.9, 19.8]`. */
  readonly verdict: string;
}

export type Standing = 'floor' | 'fastest' | 'within noise' | 'slower' | 'unclear' | 'failed';
interface Verdict {
  readonly standing: Standing;
  readonly text: string;
}

export interface SuiteAnswer {
  readonly suite: string;
  /** `one request at a time, 3 KiB` */
  readonly setting: string;
  /** Other sizes or lengths measured, for the charts: `also measured: 64 B, 1 MiB`. */
  readonly others?: string;
  readonly model: boolean;
  readonly rows: readonly AnswerRow[];
  /** One line the data supports. */
  readonly headline: string;
}

const NOT_A_ROUND_TRIP = new Set(['no-op']);
const BASELINES: ReadonlySet<string> = new Set(BASELINE_NAMES);
const isBaseline = (c: CellResult): boolean => BASELINES.has(c.transport);
const figure = (c: CellResult): number => c.roundsP50Us ?? c.latency?.p50Us ?? Number.POSITIVE_INFINITY;

/** The setting a row belongs to: what besides the transport makes two cells differ. */
function variantOf(c: CellResult): string {
  return JSON.stringify([c.payloadBytes ?? null, c.batch ?? null, c.samplingSteps ?? null]);
}

function describeVariant(c: CellResult): string {
  const parts: string[] = [];
  if (c.payloadBytes !== undefined) parts.push(formatBytes(c.payloadBytes));
  if (c.batch !== undefined && c.batch !== 1) parts.push(`batch ${c.batch}`);
  if (c.samplingSteps !== undefined) parts.push(`${c.samplingSteps} sampling steps`);
  return parts.join(', ');
}

/** 3 KiB when measured (the image-sized default), else the smallest size, batch and length. */
function headlineVariant(cells: readonly CellResult[]): string | undefined {
  const rank = (c: CellResult): number[] => [c.payloadBytes === 3072 ? 0 : 1, c.payloadBytes ?? 0, c.batch ?? 0, c.samplingSteps ?? 0];
  const sorted = [...cells].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    return x.reduce((d, v, i) => d || v - (y[i] ?? 0), 0);
  });
  return sorted[0] === undefined ? undefined : variantOf(sorted[0]);
}

/** With `--trials N`, the trial with the median p50 stands for the cell. */
function medianTrial(cells: readonly CellResult[]): CellResult[] {
  const byId = new Map<string, CellResult[]>();
  for (const c of cells) byId.set(c.id, [...(byId.get(c.id) ?? []), c]);
  return [...byId.values()].map((g) => g.sort((a, b) => figure(a) - figure(b))[Math.floor((g.length - 1) / 2)] as CellResult);
}

const sameSet = (a: CellResult, b: CellResult): boolean => a.group === b.group && a.trial === b.trial;

/** The cheapest real round trip measured in the cell's group: native-pair for echo, in-process for a model. */
function bestFloor(c: CellResult, all: readonly CellResult[]): CellResult | undefined {
  if (c.group === undefined) return undefined;
  const floors = all.filter((f) => f.status === 'ok' && isBaseline(f) && !NOT_A_ROUND_TRIP.has(f.transport) && sameSet(f, c) && f.rounds !== undefined);
  return floors.sort((a, b) => figure(a) - figure(b))[0];
}

const modelTimeUs = (floor: CellResult): number => floor.overhead?.computeUs ?? figure(floor);

function addedCost(c: CellResult, floor: CellResult | undefined): AddedCost | undefined {
  const o = c.overhead;
  if (o !== undefined) return { estimate: o.estimate, low: o.low, high: o.high, rounds: o.rounds, over: 'model compute', ...(o.pct === undefined ? {} : { pct: o.pct }) };
  if (floor === undefined || floor.id === c.id) return undefined;
  const interval = medianInterval(perRoundDifferences(figureByRound(c), figureByRound(floor)));
  if (interval === undefined) return undefined;
  const pct = floor.transport === 'in-process' ? (interval.estimate / modelTimeUs(floor)) * 100 : undefined;
  return { estimate: interval.estimate, low: interval.low, high: interval.high, rounds: interval.n, over: seriesName(floor), ...(pct === undefined ? {} : { pct }) };
}

function slower(ratio: Interval | undefined, c: CellResult, fastest: CellResult): Verdict {
  const name = seriesName(fastest);
  if (ratio === undefined) return { standing: 'unclear', text: `${formatTimes(figure(c) / figure(fastest))}x the p50 of ${name} (not measured in the same rounds)` };
  if (!ratio.covered) return { standing: 'unclear', text: `${formatTimes(ratio.estimate)}x the time of ${name} (too few rounds to tell)` };
  if (ratio.low <= 1 && ratio.high >= 1) return { standing: 'within noise', text: `within noise of ${name}` };
  if (ratio.high < 1) return { standing: 'unclear', text: `${formatTimes(ratio.estimate)}x the time of ${name} in the same rounds, though its median is higher: drift` };
  return { standing: 'slower', text: `${formatTimes(ratio.estimate)}x slower than ${name} [${formatTimes(ratio.low)}, ${formatTimes(ratio.high)}]` };
}

/** Verdicts within each comparison set (a group and trial): cells of one set ran in the same rounds. */
function verdicts(transports: readonly CellResult[], all: readonly CellResult[]): Map<string, Verdict> {
  const sets = new Map<string, CellResult[]>();
  for (const c of transports) if (c.status === 'ok') sets.set(`${c.trial ?? 1}/${c.group ?? c.id}`, [...(sets.get(`${c.trial ?? 1}/${c.group ?? c.id}`) ?? []), c]);
  const out = new Map<string, Verdict>();
  const several = sets.size > 1;
  for (const set of sets.values()) {
    // Read against a common floor round by round when every cell has one (drift cancels), else by p50.
    const byFloor = set.every((c) => c.floor !== undefined && c.floor.floorId === set[0]?.floor?.floorId);
    const speed = (c: CellResult): number => (byFloor ? (c.floor?.estimate ?? 0) : figure(c));
    const fastest = [...set].sort((a, b) => speed(a) - speed(b))[0] as CellResult;
    const where = several ? ` over ${[...new Set(set.map((c) => c.family))].join(' and ')}` : '';
    for (const c of set) {
      const peer = all.find((f) => f.id === fastest.id && f.trial === c.trial) ?? fastest;
      out.set(c.id, c.id === fastest.id ? { standing: 'fastest', text: `fastest${where}` } : slower(sameSet(c, peer) ? sameRoundRatio(c, peer) : undefined, c, fastest));
    }
  }
  return out;
}

function row(c: CellResult, all: readonly CellResult[], verdict: Verdict): AnswerRow {
  const added = addedCost(c, bestFloor(c, all));
  return {
    id: c.id,
    transport: seriesName(c),
    family: c.family,
    ...(c.streaming === undefined ? {} : { mode: c.streaming ? 'stream' : 'unary' }),
    floor: verdict.standing === 'floor',
    ok: c.status === 'ok',
    ...(c.error === undefined ? {} : { errorCode: c.error.code }),
    ...(c.latency === undefined ? {} : { p50Us: figure(c), p99Us: c.latency.p99Us }),
    ...(c.ci95 === undefined ? {} : { p50Interval: c.ci95.p50Us }),
    ...(added === undefined ? {} : { added }),
    ...(c.stable === undefined ? {} : { stable: c.stable }),
    ...(c.unstableReason === undefined ? {} : { unstableReason: c.unstableReason }),
    ...(c.status === 'ok' ? { standing: verdict.standing, verdict: verdict.text } : { standing: 'failed' as const, verdict: `failed: ${c.error?.code ?? 'unknown'}` }),
  };
}

const label = (r: AnswerRow): string => `${r.transport}${r.mode === undefined ? '' : ` ${r.mode}`} over ${r.family}`;

function headline(rows: readonly AnswerRow[], micro: MicroSymbol): string {
  const measured = rows.filter((r) => !r.floor && r.ok && r.p50Us !== undefined);
  const best = measured.filter((r) => r.standing === 'fastest');
  if (best.length === 0) return rows.length === 0 ? 'nothing measured' : 'no transport completed: see the failures below';
  const parts = best.map((r) => {
    const cost = r.added === undefined ? '' : `, adding ${formatDuration(r.added.estimate, micro)}${r.added.pct === undefined ? '' : ` = ${r.added.pct.toFixed(1)}% of model time`}`;
    return `${label(r)} (${formatDuration(r.p50Us, micro)} p50${cost})`;
  });
  const close = [...new Set(measured.filter((r) => r.standing === 'within noise').map(label))];
  const slow = measured.filter((r) => r.standing === 'slower');
  const worst = slow.sort((a, b) => (b.p50Us ?? 0) - (a.p50Us ?? 0))[0];
  // Where the model's time swamps the wire, many cells tie: count them, and name the one that adds least.
  const cheapest = [...measured].filter((r) => r.added !== undefined).sort((a, b) => a.added!.estimate - b.added!.estimate)[0];
  const cheapestLine = cheapest === undefined || best.includes(cheapest) || close.length <= 3 ? [] : [`least added: ${label(cheapest)} (${formatDuration(cheapest.added!.estimate, micro)}${cheapest.added!.pct === undefined ? '' : ` = ${cheapest.added!.pct.toFixed(1)}%`})`];
  return [
    `fastest: ${parts.join('; ')}`,
    ...(close.length === 0 ? [] : [close.length <= 3 ? `within noise of it: ${close.join(', ')}` : `${close.length} others within noise of it`]),
    ...cheapestLine,
    ...(worst === undefined ? [] : [`slowest: ${label(worst)}, ${worst.verdict}`]),
  ].join('; ');
}

/** Groups in the order they were measured; in each, the floor first, then the fastest first. */
function order(all: readonly CellResult[], fastest: ReadonlySet<string>): (a: CellResult, b: CellResult) => number {
  const first = (c: CellResult): number => all.findIndex((x) => x.group === c.group && x.trial === c.trial);
  return (a, b) => first(a) - first(b) || Number(isBaseline(b)) - Number(isBaseline(a)) || Number(fastest.has(b.id)) - Number(fastest.has(a.id)) || figure(a) - figure(b);
}

/** One answer per suite, in the order the suites were measured. */
export function answerFor(result: RunResult, micro: MicroSymbol = 'µs'): SuiteAnswer[] {
  const suites = [...new Set(result.cells.map((c) => c.suite as string))];
  return suites.flatMap((suite) => {
    const cells = result.cells.filter((c) => c.suite === suite);
    const scenario = cells.some((c) => c.scenario === 'single-stream') ? 'single-stream' : cells[0]?.scenario;
    const candidates = cells.filter((c) => c.scenario === scenario && !NOT_A_ROUND_TRIP.has(c.transport));
    const variant = headlineVariant(candidates.filter((c) => !isBaseline(c)));
    if (variant === undefined) return [];
    const chosen = medianTrial(candidates.filter((c) => variantOf(c) === variant));
    const transports = chosen.filter((c) => !isBaseline(c));
    const floors = new Set(transports.map((c) => bestFloor(c, chosen)?.id).filter((id): id is string => id !== undefined));
    const said = verdicts(transports, result.cells);
    const rows = chosen
      .filter((c) => !isBaseline(c) || floors.has(c.id))
      .sort(order(result.cells, new Set([...said].filter(([, v]) => v.standing === 'fastest').map(([id]) => id))))
      .map((c) => row(c, chosen, floors.has(c.id) ? { standing: 'floor', text: 'the floor' } : (said.get(c.id) ?? { standing: 'unclear', text: '' })));
    const first = transports[0] as CellResult;
    const others = [...new Set(cells.filter((c) => c.scenario === scenario && !isBaseline(c) && variantOf(c) !== variant).map(describeVariant))].filter((s) => s !== '');
    const setting = [scenario === 'single-stream' ? 'one request at a time' : `${scenario} scenario`, describeVariant(first)].filter((s) => s !== '').join(', ');
    return [{ suite, setting, ...(others.length === 0 ? {} : { others: `also measured: ${others.join('; ')} (see the charts)` }), model: cells.some((c) => c.transport === 'in-process'), rows, headline: headline(rows, micro) }];
  });
}

/** The answer as terminal text: a headline and a table per suite, in us / ms / s. */
export function answerText(result: RunResult): string {
  const answers = answerFor(result, 'us');
  if (answers.length === 0) return 'The answer: this run measured no transport.\n';
  const out: string[] = [];
  for (const a of answers) {
    const over = addedOver(a.rows);
    out.push(`The answer for ${a.suite} (${a.setting}${a.others === undefined ? '' : `; ${a.others}`}):`, `  ${a.headline}`);
    const head = ['transport', 'family', ...(a.rows.some((r) => r.mode !== undefined) ? ['mode'] : []), 'p50 [95% CI]', 'p99', `adds over ${over || 'floor'} [95% CI]${a.model ? ', % of model' : ''}`, 'stable', 'verdict'];
    const lines = a.rows.map((r) => [
      r.floor ? `${r.transport} (floor)` : r.transport,
      r.family,
      ...(head.includes('mode') ? [r.mode ?? ''] : []),
      p50Text(r, 'us'),
      formatDuration(r.p99Us, 'us'),
      addedText(r.added, 'us'),
      stableText(r),
      r.verdict,
    ]);
    out.push(...table([head, ...lines]), '');
  }
  // Where HTTP and gRPC time goes: protocol floor, server stack, client library (reports/ladder.ts).
  out.push(...ladderText(result));
  out.push('p50: median of the per-round medians, with its 95% interval; "adds": what the transport costs per request over the floor, in the same rounds; verdicts compare cells measured in the same rounds (docs/reading-the-report.md).');
  return `${out.join('\n')}\n`;
}
