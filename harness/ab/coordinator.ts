/**
 * Interleaving two versions of the code: each side runs one worker per replica (its own processes:
 * a Node client, sidecars); every worker announces each group it would measure, and for a group
 * all announce, the coordinator runs rounds over the arms of every replica of both sides together
 * (shuffled per round with the run's seed), so every cell of head is measured in the same moments
 * as the same cell of base. Per round, a side's figure is the geometric mean of its replicas'; a
 * group ends once every cell's head/base ratio is pinned to a quarter of the threshold, or at its
 * round or time cap; model groups run their fixed pass.
 */
import type { ResolvedConfig } from '../config.js';
import { HarnessError, isHarnessErrorCode } from '../../transports/errors.js';
import { runRounds, type Arm, type PlacedBlock } from '../load/rounds.js';
import type { CellResult, RunCheck } from '../results.js';
import { medianInterval, perRoundRatios, relativeHalfWidth, replicaSeries } from '../stats/intervals.js';
import { roundStat } from '../stats/round-figures.js';
import type { Progress } from '../suites/context.js';
import { failedCell } from '../suites/cell.js';
import { groupCells, hash, type ArmInfo } from '../suites/group.js';
import { fromWireBlock, wireError, type WireArm, type WireGroup, type WorkerEvent } from './protocol.js';
import type { SideSource, Worker } from './sides.js';

/** What one side measured: its cells (built from the coordinator's rounds), its checks, its end. */
export interface SideResult {
  readonly source: SideSource;
  /** With several replicas, each replica's cells carry `trial` = its index. */
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

/** The workers of a run: base's replicas, then head's, as many of each. */
export type SideWorkers = readonly [readonly Worker[], readonly Worker[]];

const GROUP_TIMEOUT_MS = 10 * 60_000;
const BLOCK_TIMEOUT_MS = 30 * 60_000;

type Announced = WireGroup & { event: 'group' };

/** A side's end: its checks (named per replica when there are several), environment and status. */
function finish(side: SideResult, event: WorkerEvent & { event: 'done' }, replica: number, replicas: number): void {
  side.checks.push(...event.checks.map((c) => (replicas > 1 ? { ...c, name: `${c.name} (replica ${replica})` } : c)));
  if (replica === 0) side.environment = event.environment;
  // The worst of the replicas' statuses.
  const order = ['ok', 'partial', 'interrupted', 'failed'];
  if (side.status === 'unknown' || order.indexOf(event.status) > order.indexOf(side.status)) side.status = event.status;
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

/** A side's per-round figures for one cell: the geometric mean over its replicas' arms. */
function sideSeries(blocks: readonly (readonly PlacedBlock[])[], arms: readonly number[], figure: WireGroup['plan']['figure']): Map<number, number> {
  return replicaSeries(arms.map((i) => new Map((blocks[i] ?? []).map((block) => [block.round, roundStat(block, figure).figureUs]))));
}

/** Settled when every cell's head/base ratio has an interval within a quarter of the threshold. */
function pinned(figure: WireGroup['plan']['figure'], cells: readonly (readonly [number[], number[]])[], thresholdPct: number) {
  const width = Math.max(0.01, thresholdPct / 400);
  return (blocks: readonly (readonly PlacedBlock[])[]): boolean =>
    cells.every(([base, head]) => {
      const interval = medianInterval(perRoundRatios(sideSeries(blocks, head, figure), sideSeries(blocks, base, figure)));
      return interval !== undefined && interval.covered && relativeHalfWidth(interval) <= width;
    });
}

function infoOf(arm: WireArm): ArmInfo {
  return { key: arm.key, ...(arm.floor === undefined ? {} : { floor: arm.floor }), ...(arm.model === undefined ? {} : { model: arm.model }), ...(arm.facts === undefined ? {} : { facts: arm.facts }) };
}

/** One group, every replica of both sides interleaved; each replica's cells go to its side's result. */
async function measureGroup(workers: SideWorkers, groups: readonly [readonly WireGroup[], readonly WireGroup[]], results: readonly [SideResult, SideResult], options: AbCoordinatorOptions): Promise<boolean> {
  const { config } = options;
  const replicas = workers[0].length;
  const plan = (groups[0][0] as WireGroup).plan;
  const all = [...groups[0], ...groups[1]];
  const openIn = (g: WireGroup, id: string) => g.arms.some((a) => a.id === id && a.error === undefined);
  const ids = (groups[0][0] as WireGroup).arms.map((a) => a.id).filter((id) => all.every((g) => openIn(g, id)));
  const arms: Arm[] = [];
  // Per cell, the arm indices of base's replicas and of head's.
  const cells: [number[], number[]][] = ids.map((id) => {
    const indices: [number[], number[]] = [[], []];
    for (const side of [0, 1] as const) {
      for (const worker of workers[side]) {
        indices[side].push(arms.length);
        arms.push(remoteArm(worker, id));
      }
    }
    return indices;
  });
  options.progress.plan(all.reduce((n, g) => n + g.arms.length, 0));
  options.progress.start(`${plan.label}: base and head interleaved${replicas > 1 ? `, ${replicas} replicas each` : ''}`);
  let outcome;
  try {
    outcome = await runRounds(arms, {
      minRounds: plan.minRounds,
      maxRounds: plan.maxRounds,
      ...(plan.untilSettled === false ? {} : { maxDurationMs: config.maxGroupMs, settled: pinned(plan.figure, cells, options.thresholdPct) }),
      seed: (config.seed ^ hash(`ab ${plan.label}`)) >>> 0,
      signal: options.signal,
    });
  } finally {
    for (const worker of [...workers[0], ...workers[1]]) worker.send({ op: 'end' });
  }
  for (const side of [0, 1] as const) {
    groups[side].forEach((group, replica) => {
      const measured = ids.map((id) => group.arms.find((a) => a.id === id) as WireArm);
      const blocks = cells.map((c) => outcome.blocks[c[side][replica] as number] as PlacedBlock[]);
      const errors = blocks.map((bs) => bs.find((b) => b.abortedBy !== undefined)?.abortedBy);
      const made = groupCells(plan, measured.map(infoOf), { blocks, rounds: outcome.rounds, interrupted: outcome.interrupted, errors, ...(group.pinning === undefined ? {} : { pinning: group.pinning }) }, config.stabilityPct);
      const notOpened = group.arms.filter((a) => !ids.includes(a.id)).map((a) => failedCell(a.key, a.error === undefined ? new HarnessError('INTERNAL', 'not opened on every side and replica') : wireError(a.error)));
      options.progress.log(`${results[side].source.name}${replicas > 1 ? ` (replica ${replica})` : ''}:`);
      for (const cell of [...made, ...notOpened]) {
        const placed = replicas > 1 ? { ...cell, trial: replica } : cell;
        results[side].cells.push(placed);
        options.progress.done(placed);
      }
    });
  }
  return outcome.interrupted;
}

export interface AbCoordinatorOptions {
  readonly config: ResolvedConfig;
  readonly thresholdPct: number;
  readonly signal: AbortSignal;
  readonly progress: Progress;
}

/** After Ctrl-C, a worker gets this long to announce its next group or end before the run stops without it. */
const ABORT_GRACE_MS = 20_000;

/** `promise`, or ABORTED once `signal` has been aborted for ABORT_GRACE_MS: an interrupted run never waits on a hung worker. */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, who: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const gaveUp = new Promise<never>((_, reject) => {
    const start = (): void => {
      timer = setTimeout(() => reject(new HarnessError('ABORTED', `Interrupted: ${who} did not stop within ${ABORT_GRACE_MS} ms`)), ABORT_GRACE_MS);
    };
    if (signal.aborted) start();
    else signal.addEventListener('abort', (onAbort = start), { once: true });
  });
  try {
    return await Promise.race([promise, gaveUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
  }
}

/** A run with nothing measured yet. */
export function emptyRun(base: SideSource, head: SideSource): AbRun {
  const side = (source: SideSource): SideResult => ({ source, cells: [], checks: [], environment: {}, status: 'unknown' });
  return { base: side(base), head: side(head), skipped: [], interrupted: false };
}

/** Run every worker to the end, interleaving every group all of them announce. */
export async function coordinate(workers: SideWorkers, options: AbCoordinatorOptions): Promise<AbRun> {
  const replicas = workers[0].length;
  if (replicas === 0 || workers[1].length !== replicas) throw new HarnessError('INTERNAL', 'Expected as many workers on each side, at least one');
  const run = emptyRun((workers[0][0] as Worker).side, (workers[1][0] as Worker).side);
  const results = [run.base, run.head] as const;
  const pending = workers.map((ws) => ws.map(() => true));
  const next = async (side: 0 | 1, replica: number): Promise<Announced | undefined> => {
    if (!(pending[side] as boolean[])[replica]) return undefined;
    const worker = workers[side][replica] as Worker;
    const event: WorkerEvent = await untilAborted(worker.next(GROUP_TIMEOUT_MS), options.signal, `the ${worker.side.name} worker (${worker.side.label})`);
    if (event.event === 'group') return event;
    if (event.event === 'done') {
      finish(results[side], event, replica, replicas);
      (pending[side] as boolean[])[replica] = false;
      return undefined;
    }
    if (event.event === 'failed') {
      throw new HarnessError(isHarnessErrorCode(event.code) ? event.code : 'INTERNAL', `The ${worker.side.name} side (${worker.side.label}): ${event.message}`);
    }
    throw new HarnessError('PROTOCOL_ERROR', `Expected a group or the end from the ${worker.side.name} worker, got \`${event.event}\``);
  };
  // On Ctrl-C the loop ends; the caller closes the workers' stdin, which ends their runs.
  try {
    while (pending.some((p) => p.some(Boolean)) && !options.signal.aborted) {
      const announced = await Promise.all(([0, 1] as const).map((side) => Promise.all(workers[side].map((_, r) => next(side, r)))));
      const flat = [...(announced[0] as (Announced | undefined)[]), ...(announced[1] as (Announced | undefined)[])];
      const label = flat[0]?.plan.label;
      if (label !== undefined && flat.every((g) => g !== undefined && g.plan.label === label)) {
        if (await measureGroup(workers, announced as [Announced[], Announced[]], results, options)) run.interrupted = true;
        continue;
      }
      // One side only, or the sides disagree on what comes next: nobody measures it.
      for (const side of [0, 1] as const) {
        const groups = announced[side] as (Announced | undefined)[];
        groups.forEach((g, r) => g !== undefined && (workers[side][r] as Worker).send({ op: 'end' }));
        const first = groups.find((g) => g !== undefined);
        if (first !== undefined) run.skipped.push(`${results[side].source.name}: ${first.plan.label}`);
      }
    }
  } catch (error) {
    // A worker died or broke the protocol: stop here, keep every cell measured so far.
    const e = error instanceof HarnessError ? error : new HarnessError('INTERNAL', String(error), { cause: error });
    run.error = { code: e.code, message: e.message };
  }
  run.interrupted ||= options.signal.aborted;
  // A side with a replica that never reported its end did not finish, whatever its others said.
  ([0, 1] as const).forEach((side) => {
    if (!(pending[side] as boolean[]).some(Boolean)) return;
    const status = run.error !== undefined ? 'failed' : 'interrupted';
    if (results[side].status !== 'failed') results[side].status = status;
  });
  return run;
}
