/**
 * The `ab` worker protocol: one JSON object per line. A worker (`sidecar-bench ab-worker`, run from
 * one side's own checkout with its own sidecars and clients) announces each group it would measure
 * and then runs the blocks its coordinator asks for, so the coordinator can interleave the same
 * group of two versions of the code round by round. The version number changes with any change
 * below; a coordinator refuses a worker that speaks another.
 */
import { HarnessError, isHarnessErrorCode } from '../../transports/errors.js';
import type { BlockResult } from '../load/blocks.js';
import type { CellKey, RunCheck } from '../results.js';
import type { GroupPlan } from '../suites/group.js';

export const AB_PROTOCOL = 1;

/** A group as the coordinator needs it: its plan and its arms, opened or not. */
export interface WireGroup {
  readonly plan: Omit<GroupPlan, 'pinned'>;
  readonly pinning?: string;
  readonly arms: readonly WireArm[];
}

export interface WireArm {
  readonly id: string;
  readonly key: CellKey;
  readonly floor?: CellKey;
  readonly model?: CellKey;
  readonly facts?: Readonly<Record<string, unknown>>;
  /** Why the arm could not be opened; such an arm gets no blocks. */
  readonly error?: { readonly code: string; readonly message: string };
}

/** A BlockResult with its error as plain data. */
export type WireBlock = Omit<BlockResult, 'abortedBy'> & { readonly abortedBy?: { readonly code: string; readonly message: string } };

export type WorkerEvent =
  | { readonly event: 'hello'; readonly protocol: number; readonly harnessVersion: string }
  | ({ readonly event: 'group' } & WireGroup)
  | { readonly event: 'block'; readonly id: string; readonly round: number; readonly block: WireBlock }
  | { readonly event: 'done'; readonly status: string; readonly checks: readonly RunCheck[]; readonly environment: Readonly<Record<string, unknown>> }
  /** The worker's run stopped with an error before its end (e.g. USAGE: `--device cuda` without CUDA); it exits next. */
  | { readonly event: 'failed'; readonly code: string; readonly message: string };

export type Command = { readonly op: 'block'; readonly id: string; readonly round: number } | { readonly op: 'end' };

export function toWireBlock(block: BlockResult): WireBlock {
  const { abortedBy, ...rest } = block;
  return { ...rest, ...(abortedBy === undefined ? {} : { abortedBy: { code: abortedBy.code, message: abortedBy.message } }) };
}

export function fromWireBlock(block: WireBlock): BlockResult {
  const { abortedBy, ...rest } = block;
  return { ...rest, abortedBy: abortedBy === undefined ? undefined : wireError(abortedBy) };
}

export function wireError(error: { readonly code: string; readonly message: string }): HarnessError {
  return new HarnessError(isHarnessErrorCode(error.code) ? error.code : 'INTERNAL', error.message);
}
