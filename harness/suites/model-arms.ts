/**
 * Pieces the model suites share: a workload cut into rounds (every item once across the rounds,
 * the same items for every arm in a round), and the in-process model as an arm of a group.
 */
import { toHarnessError } from '../../transports/errors.js';
import { newBlock, recordSuccess, type BlockResult } from '../load/blocks.js';
import { countError } from '../load/outcome.js';
import type { OpenedArm } from './group.js';
import type { InProcessModel } from './inprocess.js';
import type { SuiteContext } from './context.js';
import type { CellResult, RunCheck } from '../results.js';

/** Rounds for a workload pass: as many as there are items, up to this. */
export const WORKLOAD_ROUNDS = 20;

/** Rounds for a pass over `count` items: one per item up to WORKLOAD_ROUNDS, never fewer than `minRounds`. */
export function roundsFor(count: number, minRounds: number): number {
  return Math.max(minRounds, Math.min(count, WORKLOAD_ROUNDS));
}

/**
 * The items of round `r` when `count` items are spread over `rounds` rounds: consecutive slices
 * of at least `perBlock` items, wrapping around, so every item is covered once the rounds are
 * done (items repeat when there are fewer items than the rounds need).
 */
export function roundSlices(count: number, rounds: number, perBlock = 1): (round: number) => number[] {
  if (count <= 0) return () => [];
  const size = Math.max(perBlock, Math.ceil(count / rounds));
  return (r) => Array.from({ length: size }, (_, i) => (r * size + i) % count);
}

const numbers = (value: unknown): number[] => (Array.isArray(value) ? value.filter((v): v is number => typeof v === 'number') : []);

/**
 * The in-process model as an arm: each block is one command over the round's items; latencies
 * are timed in Python around each call. `onReply` sees each reply (labels, responses).
 */
export function inProcessArm(
  model: InProcessModel,
  command: (items: readonly number[]) => Record<string, unknown>,
  itemsFor: (round: number) => readonly number[],
  timeoutMs: number,
  onReply: (items: readonly number[], reply: Record<string, unknown>) => void,
  signal?: AbortSignal,
): () => Promise<OpenedArm> {
  const run = async (items: readonly number[], record: boolean): Promise<BlockResult> => {
    const block = newBlock();
    try {
      const reply = await model.command(command(items), timeoutMs, signal);
      const latency = numbers(reply['latency_ns']);
      const compute = numbers(reply['compute_ns']);
      latency.forEach((ns, i) => recordSuccess(block, ns, compute[i]));
      block.durationNs = latency.reduce((a, b) => a + b, 0);
      if (record) onReply(items, reply);
    } catch (error) {
      countError(block, toHarnessError(error));
    }
    return block;
  };
  return async () => ({
    facts: model.facts,
    warmUp: () => run((itemsFor(0) as number[]).slice(0, 2), false),
    block: (round) => run(itemsFor(round), true),
    close: async () => undefined, // the model process lives for the suite
  });
}

/** Concurrency levels for the model suites: above 1 (single-stream is the point at 1); a quick run stops at 4. */
export function modelConcurrency(ctx: SuiteContext): number[] {
  if (!ctx.config.scenarios.includes('concurrency')) return [];
  return ctx.config.concurrency.filter((c) => c > 1 && (!ctx.config.quick || c <= 4));
}

/**
 * Requests per second one at a time, from a single-stream group's cells: the in-process model's,
 * or where it was not measured (none under --connect) the fastest server's; 1 when none was.
 */
export function capacityOf(cells: readonly CellResult[]): number {
  const p50 = (c: CellResult): number[] => (c.status === 'ok' && (c.latency?.p50Us ?? 0) > 0 ? [c.latency?.p50Us as number] : []);
  const inProcess = cells.filter((c) => c.transport === 'in-process').flatMap(p50);
  const p50s = inProcess.length > 0 ? inProcess : cells.flatMap(p50);
  return p50s.length === 0 ? 1 : 1e6 / Math.min(...p50s);
}

/**
 * Why a model suite leaves out what needs our own model (the in-process baseline and the checks
 * against it): under --connect the server may be anything written to the idea's wires.
 */
export function notOurModel(ctx: SuiteContext): string | undefined {
  const at = ctx.config.connect;
  return at === undefined ? undefined : `--connect ${at} is a server the harness did not start, which need not serve our model`;
}

/** A check that was not made, and why: it passes, and says so. */
export function skippedCheck(name: string, why: string): RunCheck {
  return { name, ok: true, detail: `skipped: ${why}`, data: { skipped: true } };
}
