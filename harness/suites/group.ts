/**
 * Measuring a group: cells that are compared with each other (a transport and its floors; every
 * transport and the in-process model) run in interleaved rounds (load/rounds.ts), then each
 * becomes a CellResult with its ratio to its floor and its overhead, computed round by round.
 * Rounds go on until every cell's headline figure is pinned within the stability tolerance, or
 * `maxRounds`.
 */
import type { Layout } from '../affinity.js';
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import type { BlockResult } from '../load/blocks.js';
import { runRounds, type PlacedBlock } from '../load/rounds.js';
import { cellId, seriesName, type CellKey, type CellResult, type FigureKind, type FloorComparison, type OverheadEstimate } from '../results.js';
import { compareToFloor, figureInterval, judgeStability, overheadAgainst, overheadFromReplies, roundStat } from '../stats/round-figures.js';
import { cellFromBlocks, failedCell } from './cell.js';
import type { SuiteContext } from './context.js';

/** An arm ready to measure: its clients are open. */
export interface OpenedArm {
  /** One block for `round`. Never throws. */
  block(round: number): Promise<BlockResult>;
  /** Unrecorded requests before the first round; a fatal failure here fails the cell. */
  warmUp(): Promise<BlockResult | undefined>;
  close(): Promise<void>;
  /** Ready-line facts of whatever served it. */
  readonly facts?: Readonly<Record<string, unknown>>;
  /** Whether a lost connection was the server process dying. */
  crashed?(): Promise<boolean>;
}

export interface GroupArm {
  readonly key: CellKey;
  /** The arm of this group it is read against. */
  readonly floor?: CellKey;
  /** The in-process model arm of this group, for overhead when replies carry no compute time. */
  readonly model?: CellKey;
  /** Opens clients; a throw (HarnessError) fails the cell without measuring it. */
  open(): Promise<OpenedArm>;
  /** Suite-specific figures from the arm's blocks, computed once the rounds are done. */
  metrics?(blocks: readonly PlacedBlock[]): Record<string, number | null>;
}

export interface GroupPlan {
  /** For the progress line, e.g. `echo single-stream 3072 B unix`. */
  readonly label: string;
  readonly figure: FigureKind;
  readonly minRounds: number;
  readonly maxRounds: number;
  /** Rounds end when every cell is pinned (the default), or only at `maxRounds` (a workload to get through). */
  readonly untilSettled?: boolean;
  /** Run the group pinned to cores (harness/affinity.ts): as `cpuPinning` says, or in this layout. */
  readonly pinned?: boolean | Layout;
  /** Floors bound the cells from below (one request at a time); else they are a reference only. */
  readonly strictFloors: boolean;
  /**
   * Report each cell's overhead on the model's compute time. Only where requests go one at a
   * time: with several in flight, latency minus compute also holds the wait for the model.
   */
  readonly overhead?: boolean;
}

/** What building a cell needs to know about its arm: its key, what it is read against, its facts. */
export interface ArmInfo {
  readonly key: CellKey;
  readonly floor?: CellKey;
  readonly model?: CellKey;
  readonly facts?: Readonly<Record<string, unknown>>;
  metrics?(blocks: readonly PlacedBlock[]): Record<string, number | null>;
}

/** An arm whose clients are open, ready for rounds. */
export interface LiveArm {
  readonly arm: GroupArm;
  readonly opened: OpenedArm;
  readonly id: string;
}

/** A small string hash (FNV-1a), so each group's round order depends on the run's seed and the group. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Open and warm up every arm, in order; an arm that cannot becomes a failed cell. */
export async function openArms(ctx: SuiteContext, arms: readonly GroupArm[]): Promise<{ live: LiveArm[]; failed: CellResult[] }> {
  const live: LiveArm[] = [];
  const failed: CellResult[] = [];
  for (const arm of arms) {
    if (ctx.signal.aborted) break;
    try {
      const opened = await arm.open();
      const warm = await opened.warmUp();
      if (warm?.abortedBy !== undefined) {
        await opened.close().catch(() => undefined);
        failed.push(failedCell(arm.key, await crashAware(opened, warm.abortedBy), opened.facts === undefined ? undefined : { ...opened.facts }));
        continue;
      }
      live.push({ arm, opened, id: cellId(arm.key) });
    } catch (error) {
      failed.push(failedCell(arm.key, toHarnessError(error)));
    }
  }
  return { live, failed };
}

/** A lost connection whose server process died is SIDECAR_CRASHED. */
export async function crashAware(opened: OpenedArm, error: HarnessError): Promise<HarnessError> {
  if (error.code === 'SIDECAR_CLOSED' && opened.crashed !== undefined && (await opened.crashed())) {
    return new HarnessError('SIDECAR_CRASHED', `The sidecar process died: ${error.message}`, { cause: error });
  }
  return error;
}

/** Floor ratio and overhead of one arm, from its group's blocks so far. */
function comparisons(plan: GroupPlan, arms: readonly ArmInfo[], blocks: readonly (readonly PlacedBlock[])[], index: number): { floor?: FloorComparison; overhead?: OverheadEstimate } {
  const arm = arms[index] as ArmInfo;
  const statsOf = (i: number) => (blocks[i] as PlacedBlock[]).map((b) => roundStat(b, plan.figure));
  const indexOf = (key: CellKey | undefined): number => (key === undefined ? -1 : arms.findIndex((a) => cellId(a.key) === cellId(key)));
  const own = statsOf(index);
  const floorAt = indexOf(arm.floor);
  const modelAt = indexOf(arm.model);
  const floor =
    floorAt < 0 || arm.floor === undefined
      ? undefined
      : compareToFloor(own, statsOf(floorAt), { floorId: cellId(arm.floor), floor: seriesName(arm.floor), figure: plan.figure, strict: plan.strictFloors });
  const overhead = plan.overhead !== true ? undefined : (overheadFromReplies(own) ?? (modelAt < 0 ? undefined : overheadAgainst(own, statsOf(modelAt))));
  return { ...(floor === undefined ? {} : { floor }), ...(overhead === undefined ? {} : { overhead }) };
}

/**
 * Whether the group is settled: every arm read against a floor is pinned. The floors' own
 * microseconds drift with the machine (that is what the ratios cancel), so they do not hold a group open.
 */
export function settledGroup(plan: GroupPlan, arms: readonly ArmInfo[], blocks: readonly (readonly PlacedBlock[])[], stabilityPct: number): boolean {
  const withFloor = arms.flatMap((a, i) => (a.floor === undefined ? [] : [i]));
  const judged = withFloor.length > 0 ? withFloor : arms.map((_, i) => i);
  return judged.every((i) => {
    const own = blocks[i] as PlacedBlock[];
    if (own.some((b) => b.abortedBy !== undefined)) return true;
    const errors = own.reduce((n, b) => n + b.errors, 0);
    const stats = own.map((b) => roundStat(b, plan.figure));
    const headline = comparisons(plan, arms, blocks, i).floor ?? figureInterval(stats);
    return judgeStability(stats, errors, headline, stabilityPct).stable || errors > 0;
  });
}

/** A cell's own figures; a failure to compute them costs those figures, never the cell. */
function metricsOf(arm: ArmInfo, blocks: readonly PlacedBlock[]): Record<string, number | null> {
  try {
    return arm.metrics?.(blocks) ?? {};
  } catch {
    return {};
  }
}

export interface GroupOutcome {
  readonly blocks: readonly (readonly PlacedBlock[])[];
  /** Rounds completed. */
  readonly rounds: number;
  readonly interrupted: boolean;
  /** Per arm, why it stopped early (crash-aware), if it did. */
  readonly errors: readonly (HarnessError | undefined)[];
  readonly pinning?: string;
}

/** The cells of a group from its arms' blocks, each with its floor ratio and overhead taken round by round. */
export function groupCells(plan: GroupPlan, arms: readonly ArmInfo[], outcome: GroupOutcome, stabilityPct: number): CellResult[] {
  return arms.map((arm, i) => {
    const blocks = outcome.blocks[i] as PlacedBlock[];
    const failure = blocks.find((b) => b.abortedBy !== undefined);
    const interrupted = outcome.interrupted ? new HarnessError('ABORTED', 'The run was interrupted before this group finished') : undefined;
    // A connection dropped in the round Ctrl-C stopped was dropped by the interruption.
    const byInterrupt = failure !== undefined && outcome.interrupted && failure.round >= outcome.rounds;
    const error = failure === undefined || byInterrupt ? interrupted : (outcome.errors[i] ?? failure.abortedBy);
    return cellFromBlocks(arm.key, blocks, {
      figure: plan.figure,
      group: plan.label,
      ...(outcome.pinning === undefined ? {} : { pinning: outcome.pinning }),
      ...comparisons(plan, arms, outcome.blocks, i),
      stabilityPct,
      ...(arm.metrics === undefined ? {} : { metrics: metricsOf(arm, blocks) }),
      ...(arm.facts === undefined ? {} : { sidecar: { ...arm.facts } }),
      ...(error === undefined ? {} : { error }),
    });
  });
}

export async function measureGroup(ctx: SuiteContext, arms: readonly GroupArm[], plan: GroupPlan): Promise<CellResult[]> {
  if (ctx.signal.aborted || arms.length === 0) return [];
  const layout = typeof plan.pinned === 'string' ? plan.pinned : undefined;
  const cells = plan.pinned === undefined || plan.pinned === false ? await measure(ctx, arms, plan, undefined) : await ctx.pinned((pinning) => measure(ctx, arms, plan, pinning), layout);
  for (const cell of cells) ctx.emit(cell);
  return cells;
}

async function measure(ctx: SuiteContext, arms: readonly GroupArm[], plan: GroupPlan, pinning: string | undefined): Promise<CellResult[]> {
  ctx.progress.start(plan.label, arms.length);
  const { live, failed } = await openArms(ctx, arms);
  const stabilityPct = ctx.config.stabilityPct;
  const infos: ArmInfo[] = live.map((l) => ({ ...l.arm, ...(l.opened.facts === undefined ? {} : { facts: l.opened.facts }) }));
  let outcome;
  try {
    outcome = await runRounds(
      live.map((l) => ({ block: (round) => l.opened.block(round) })),
      {
        minRounds: plan.minRounds,
        maxRounds: plan.maxRounds,
        ...(plan.untilSettled === false ? {} : { maxDurationMs: ctx.config.maxGroupMs }),
        seed: (ctx.config.seed ^ hash(plan.label)) >>> 0,
        signal: ctx.signal,
        settled: (blocks) => plan.untilSettled !== false && settledGroup(plan, infos, blocks, stabilityPct),
      },
    );
  } finally {
    await Promise.all(live.map((l) => l.opened.close().catch(() => undefined)));
  }
  const errors = await Promise.all(
    live.map((l, i) => {
      const aborted = (outcome.blocks[i] as PlacedBlock[]).find((b) => b.abortedBy !== undefined)?.abortedBy;
      return aborted === undefined ? undefined : crashAware(l.opened, aborted);
    }),
  );
  const cells = groupCells(plan, infos, { ...outcome, errors, ...(pinning === undefined ? {} : { pinning }) }, stabilityPct);
  // In the order the arms were given, so a report reads the same from run to run.
  const byId = new Map([...failed, ...cells].map((c) => [c.id, c]));
  return arms.flatMap((a) => byId.get(cellId(a.key)) ?? []);
}
