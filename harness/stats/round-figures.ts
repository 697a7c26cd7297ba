/**
 * From an interleaved group's blocks to what a user reads: each cell's figure per round, its
 * ratio to its floor round by round, the transport's overhead on the model's own compute time,
 * and whether the figure is pinned down (stable) or why not. Pure functions over plain data.
 */
import type { PlacedBlock } from '../load/rounds.js';
import type { FigureKind, FloorComparison, IntervalEstimate, OverheadEstimate, RoundStat, UnstableReason } from '../results.js';
import { MIN_VALUES_FOR_95, medianInterval, perRoundDifferences, perRoundRatios, relativeHalfWidth, type Interval } from './intervals.js';
import { medianOf } from '../load/blocks.js';

const usOf = (ns: number): number => ns / 1000;

/** One block as a RoundStat: its p50, the figure it is compared on, its compute and overhead medians. */
export function roundStat(block: PlacedBlock, figure: FigureKind): RoundStat {
  const ok = block.latenciesNs.length;
  const p50Us = usOf(medianOf(block.latenciesNs));
  const perRequestUs = ok > 0 ? usOf(block.durationNs / ok) : Number.NaN;
  return {
    round: block.round,
    position: block.position,
    requests: ok,
    errors: block.errors,
    durationMs: block.durationNs / 1e6,
    p50Us,
    figureUs: figure === 'p50' ? p50Us : perRequestUs,
    ...(block.computeNs.length > 0 ? { computeP50Us: usOf(medianOf(block.computeNs)) } : {}),
    ...(block.overheadNs.length > 0 ? { overheadP50Us: usOf(medianOf(block.overheadNs)) } : {}),
  };
}

function byRound(stats: readonly RoundStat[], value: (s: RoundStat) => number | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of stats) {
    const v = value(s);
    if (v !== undefined && Number.isFinite(v)) out.set(s.round, v);
  }
  return out;
}

function estimate(interval: Interval): IntervalEstimate {
  return { estimate: interval.estimate, low: interval.low, high: interval.high, rounds: interval.n };
}

/** The cell's figure over its rounds: median and 95% interval. */
export function figureInterval(stats: readonly RoundStat[]): IntervalEstimate | undefined {
  const interval = medianInterval([...byRound(stats, (s) => s.figureUs).values()]);
  return interval === undefined ? undefined : estimate(interval);
}

/** Per-round `figure / floor figure`, its median and 95% interval; undefined with no round in common. */
export function compareToFloor(cell: readonly RoundStat[], floor: readonly RoundStat[], at: { floorId: string; floor: string; figure: FigureKind; strict: boolean }): FloorComparison | undefined {
  const interval = medianInterval(perRoundRatios(byRound(cell, (s) => s.figureUs), byRound(floor, (s) => s.figureUs)));
  if (interval === undefined) return undefined;
  return { ...estimate(interval), ...at, belowFloor: at.strict && interval.covered && interval.high < 1 };
}

/** `pct` only where the model took time: a model that computes nothing (echo) has no % of model time. */
function percentOf(overheadUs: number, computeUs: number): { pct?: number } {
  return computeUs > 0 ? { pct: (overheadUs / computeUs) * 100 } : {};
}

/** Overhead from replies that carried the model's compute time: per request, latency minus compute. */
export function overheadFromReplies(cell: readonly RoundStat[]): OverheadEstimate | undefined {
  const interval = medianInterval([...byRound(cell, (s) => s.overheadP50Us).values()]);
  const compute = medianInterval([...byRound(cell, (s) => s.computeP50Us).values()]);
  if (interval === undefined || compute === undefined) return undefined;
  return { ...estimate(interval), computeUs: compute.estimate, ...percentOf(interval.estimate, compute.estimate), source: 'reply' };
}

/** Overhead against the in-process model in the same rounds: the cell's p50 minus the model's. */
export function overheadAgainst(cell: readonly RoundStat[], inProcess: readonly RoundStat[]): OverheadEstimate | undefined {
  const model = byRound(inProcess, (s) => s.computeP50Us ?? s.p50Us);
  const interval = medianInterval(perRoundDifferences(byRound(cell, (s) => s.p50Us), model));
  const compute = medianInterval([...model.values()]);
  if (interval === undefined || compute === undefined) return undefined;
  return { ...estimate(interval), computeUs: compute.estimate, ...percentOf(interval.estimate, compute.estimate), source: 'in-process' };
}

export interface Stability {
  readonly stable: boolean;
  readonly reason?: UnstableReason;
}

/**
 * A cell is stable when it had no failed request, enough rounds for a 95% interval, and its
 * headline figure's interval lies within +-stabilityPct of the estimate. The headline is the
 * ratio to the floor when the cell has one (absolute times drift on a shared machine; the ratio
 * measured in the same moments does not), else its own figure.
 */
export function judgeStability(stats: readonly RoundStat[], errors: number, headline: IntervalEstimate | undefined, stabilityPct: number): Stability {
  if (errors > 0) return { stable: false, reason: 'errors' };
  const usable = stats.filter((s) => s.requests > 0 && Number.isFinite(s.figureUs)).length;
  if (headline === undefined || usable < MIN_VALUES_FOR_95 || headline.rounds < MIN_VALUES_FOR_95) return { stable: false, reason: 'too few samples' };
  const width = relativeHalfWidth({ ...headline, n: headline.rounds, covered: true });
  return width <= stabilityPct / 100 ? { stable: true } : { stable: false, reason: 'still drifting' };
}
