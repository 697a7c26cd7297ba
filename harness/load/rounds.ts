/**
 * Interleaved rounds (tango-bench; Laaber et al., EMSE 2019): every arm of a group (a cell, or
 * one of its floors) runs one short block per round, in an order shuffled afresh each round with
 * the run's seed. On a machine whose speed drifts between minutes, two arms measured this way see
 * the same moments, so the ratio of their figures within a round cancels the drift.
 */
import { toHarnessError } from '../../transports/errors.js';
import { mulberry32 } from '../../datasets/random.js';
import { newBlock, type BlockResult } from './blocks.js';
import { countError } from './outcome.js';

export interface Arm {
  /** Run this arm's block for `round`. Never throws: failures are counted in the block. */
  block(round: number): Promise<BlockResult>;
}

/** A block with where it ran: its round, and its place in that round's order (0 = first). */
export type PlacedBlock = BlockResult & { readonly round: number; readonly position: number };

export interface RoundsPlan {
  readonly minRounds: number;
  readonly maxRounds: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  /**
   * Asked after each round once `minRounds` are done, with every arm's blocks so far: true ends
   * the group (its figures are pinned down well enough).
   */
  readonly settled?: (blocks: readonly (readonly PlacedBlock[])[]) => boolean;
  /** Start no new round after this long (a group's share of the run's time). */
  readonly maxDurationMs?: number;
}

export interface RoundsOutcome {
  /** Per arm (in the order given), its blocks in round order. */
  readonly blocks: PlacedBlock[][];
  readonly rounds: number;
  /** The run was interrupted (Ctrl-C) before the group finished. */
  readonly interrupted: boolean;
}

/** Fisher-Yates over `items` with `random`, in place. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** An arm's block; a throw (a bug: arms count their failures) ends that arm as an INTERNAL failure, not the group. */
async function runBlock(arm: Arm, round: number): Promise<BlockResult> {
  try {
    return await arm.block(round);
  } catch (error) {
    const block = newBlock();
    countError(block, error);
    block.abortedBy ??= toHarnessError(error);
    return block;
  }
}

export async function runRounds(arms: readonly Arm[], plan: RoundsPlan): Promise<RoundsOutcome> {
  const random = mulberry32(plan.seed);
  const blocks: PlacedBlock[][] = arms.map(() => []);
  const dead = new Set<number>(); // arms whose connection is gone: they sit out the later rounds
  const started = performance.now();
  let rounds = 0;
  let interrupted = false;
  while (rounds < plan.maxRounds) {
    const order = shuffle(arms.map((_, i) => i).filter((i) => !dead.has(i)), random);
    if (order.length === 0) break;
    const stopped = (): boolean => plan.signal?.aborted === true;
    for (const [position, index] of order.entries()) {
      if (stopped()) {
        interrupted = true;
        break;
      }
      const block = await runBlock(arms[index] as Arm, rounds);
      (blocks[index] as PlacedBlock[]).push({ ...block, round: rounds, position });
      if (block.abortedBy !== undefined) dead.add(index);
      // Ctrl-C during this block: the round is not finished, and it is the last.
      if (block.abortedBy?.code === 'ABORTED' || stopped()) {
        interrupted = true;
        break;
      }
    }
    if (interrupted) break;
    rounds += 1;
    if (rounds >= plan.minRounds && plan.settled?.(blocks) === true) break;
    if (plan.maxDurationMs !== undefined && performance.now() - started >= plan.maxDurationMs && rounds >= plan.minRounds) break;
  }
  return { blocks, rounds, interrupted };
}
