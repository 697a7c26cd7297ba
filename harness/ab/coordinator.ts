/**
 * Interleaving two versions of the code: a worker per side announces each group it would measure;
 * for a group both announce, the coordinator runs rounds over the arms of both sides together
 * (shuffled per round with the run's seed), so every cell of head is measured in the same moments
 * as the same cell of base. A group ends once every cell's head/base ratio is pinned to a quarter
 * of the threshold, or at its round or time cap; model groups run their fixed pass.
 */
import type { ResolvedConfig } from '../config.js';
import { HarnessError } from '../errors.js';
import { runRounds, type Arm, type PlacedBlock } from '../load/rounds.js';
import type { CellResult, RunCheck } from '../results.js';
import { medianInterval, perRoundRatios, relativeHalfWidth } from '../stats/intervals.js';
import { roundStat } from '../stats/round-figures.js';
import type { Progress } from '../suites/context.js';
import { failedCell } from '../suites/cell.js';
import { groupCells, hash, type ArmInfo } from '../suites/group.js';
import { fromWireBlock, wireError, type WireArm, type WireGroup, type WorkerEvent } from './protocol.js';
import type { SideSource, Worker } from './sides.js';

/** What one side measured: its cells (built from the coordinator's rounds), its checks, its end. */
export interface SideResult {
  readonly source: SideSource;
  readonly cells: CellResult[];
  readonly checks: RunCheck[];
  environment: Readonly<Record<string, unknown>>;
  status: string;
}

export interface AbRun {
  readonly base: SideResult;
  readonly head: SideResult;
  /** Groups only one side announced (the two versions differ in what they measure). */
  readonly skipped: string[];
  interrupted: boolean;
  /** Why the run ended early (a worker died or broke the protocol); what was measured is kept. */
  error?: { readonly code: string; readonly message: string };
}

const GROUP_TIMEOUT_MS = 10 * 60_000;
const BLOCK_TIMEOUT_MS = 30 * 60_000;

/** The next group (or the end) a worker announces. */
async function nextGroup(worker: Worker, side: SideResult): Promise<(WireGroup & { event: 'group' }) | undefined> {
  const event: WorkerEvent = await worker.next(GROUP_TIMEOUT_MS);
  if (event.event === 'group') return event;
  if (event.event === 'done') {
    side.checks.push(...event.checks);
    side.environment = event.environment;
    side.status = event.status;
    return undefined;
  }
  throw new HarnessError('PROTOCOL_ERROR', `Expected a group or the end from the ${worker.side.name} worker, got \`${event.event}\``);
}

/** An arm run by a worker: each block is one command and one reply. */
function remoteArm(worker: Worker, id: string): Arm {
  return {
    async block(round) {
      worker.send({ op: 'block', id, round });
      const event = await worker.next(BLOCK_TIMEOUT_MS);
      if (event.event !== 'block' || event.id !== id || event.round !== round) {
        throw new HarnessError('PROTOCOL_ERROR', `Expected block ${id} round ${round} from the ${worker.side.name} worker, got \`${event.event}\``);
      }
      return fromWireBlock(event.block);
    },
  };
}

/** Settled when every cell's head/base ratio has an interval within a quarter of the threshold. */
function pinned(figure: WireGroup['plan']['figure'], pairs: readonly [number, number][], thresholdPct: number) {
  const width = Math.max(0.01, thresholdPct / 400);
  return (blocks: readonly (readonly PlacedBlock[])[]): boolean =>
    pairs.every(([b, h]) => {
      const series = (i: number) => new Map((blocks[i] ?? []).map((block) => [block.round, roundStat(block, figure).figureUs]));
      const interval = medianInterval(perRoundRatios(series(h), series(b)));
      return interval !== undefined && interval.covered && relativeHalfWidth(interval) <= width;
    });
}

function infoOf(arm: WireArm): ArmInfo {
  return { key: arm.key, ...(arm.floor === undefined ? {} : { floor: arm.floor }), ...(arm.model === undefined ? {} : { model: arm.model }), ...(arm.facts === undefined ? {} : { facts: arm.facts }) };
}

/** One group, both sides interleaved; each side's cells go to its result. */
async function measurePair(workers: readonly [Worker, Worker], groups: readonly [WireGroup, WireGroup], results: readonly [SideResult, SideResult], options: AbCoordinatorOptions): Promise<boolean> {
  const { config } = options;
  const plan = groups[0].plan;
  const open = (g: WireGroup) => new Set(g.arms.filter((a) => a.error === undefined).map((a) => a.id));
  const [openBase, openHead] = [open(groups[0]), open(groups[1])];
  const ids = groups[0].arms.filter((a) => openBase.has(a.id) && openHead.has(a.id)).map((a) => a.id);
  const arms: Arm[] = [];
  const pairs: [number, number][] = [];
  for (const id of ids) {
    pairs.push([arms.length, arms.length + 1]);
    arms.push(remoteArm(workers[0], id), remoteArm(workers[1], id));
  }
  options.progress.plan(groups[0].arms.length + groups[1].arms.length);
  options.progress.start(`${plan.label}: base and head interleaved`);
  let outcome;
  try {
    outcome = await runRounds(arms, {
      minRounds: plan.minRounds,
      maxRounds: plan.maxRounds,
      ...(plan.untilSettled === false ? {} : { maxDurationMs: config.maxGroupMs, settled: pinned(plan.figure, pairs, options.thresholdPct) }),
      seed: (config.seed ^ hash(`ab ${plan.label}`)) >>> 0,
      signal: options.signal,
    });
  } finally {
    for (const worker of workers) worker.send({ op: 'end' });
  }
  groups.forEach((group, side) => {
    const measured = ids.map((id) => group.arms.find((a) => a.id === id) as WireArm);
    const blocks = ids.map((_, k) => outcome.blocks[2 * k + side] as PlacedBlock[]);
    const errors = blocks.map((bs) => bs.find((b) => b.abortedBy !== undefined)?.abortedBy);
    const cells = groupCells(plan, measured.map(infoOf), { blocks, rounds: outcome.rounds, interrupted: outcome.interrupted, errors, ...(group.pinning === undefined ? {} : { pinning: group.pinning }) }, config.stabilityPct);
    const notOpened = group.arms.filter((a) => !ids.includes(a.id)).map((a) => failedCell(a.key, a.error === undefined ? new HarnessError('INTERNAL', 'not opened on the other side') : wireError(a.error)));
    options.progress.log(`${(workers[side] as Worker).side.name}:`);
    for (const cell of [...cells, ...notOpened]) {
      (results[side] as SideResult).cells.push(cell);
      options.progress.done(cell);
    }
  });
  return outcome.interrupted;
}

export interface AbCoordinatorOptions {
  readonly config: ResolvedConfig;
  readonly thresholdPct: number;
  readonly signal: AbortSignal;
  readonly progress: Progress;
}

/** A run with nothing measured yet. */
export function emptyRun(base: SideSource, head: SideSource): AbRun {
  const side = (source: SideSource): SideResult => ({ source, cells: [], checks: [], environment: {}, status: 'unknown' });
  return { base: side(base), head: side(head), skipped: [], interrupted: false };
}

/** Run both workers to the end, interleaving every group they both announce. */
export async function coordinate(workers: readonly [Worker, Worker], options: AbCoordinatorOptions): Promise<AbRun> {
  const run = emptyRun(workers[0].side, workers[1].side);
  const results = [run.base, run.head] as const;
  const pending: [boolean, boolean] = [true, true];
  // On Ctrl-C the loop ends; the caller closes the workers' stdin, which ends their runs.
  try {
    while ((pending[0] || pending[1]) && !options.signal.aborted) {
      const [b, h] = await Promise.all(workers.map((w, i) => (pending[i] ? nextGroup(w, results[i] as SideResult) : Promise.resolve(undefined))));
      if (b === undefined) pending[0] = false;
      if (h === undefined) pending[1] = false;
      if (b !== undefined && h !== undefined && b.plan.label === h.plan.label) {
        if (await measurePair(workers, [b, h], results, options)) run.interrupted = true;
        continue;
      }
      // One side only, or the sides disagree on what comes next: neither is measured.
      for (const [i, group] of [b, h].entries()) {
        if (group === undefined) continue;
        (workers[i] as Worker).send({ op: 'end' });
        run.skipped.push(`${(workers[i] as Worker).side.name}: ${group.plan.label}`);
      }
    }
  } catch (error) {
    // A worker died or broke the protocol: stop here, keep every cell measured so far.
    const e = error instanceof HarnessError ? error : new HarnessError('INTERNAL', String(error), { cause: error });
    run.error = { code: e.code, message: e.message };
  }
  run.interrupted ||= options.signal.aborted;
  return run;
}
