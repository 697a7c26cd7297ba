/** What a suite gets from the runner: the config, where to put results, and sidecars on demand. */
import type { Layout } from '../affinity.js';
import type { HarnessError } from '../../transports/errors.js';
import type { ResolvedConfig } from '../config.js';
import type { Progress, SidecarLease, SidecarTarget } from '../contracts.js';
import type { CellResult, RunCheck } from '../results.js';
import type { GroupArm, GroupPlan } from './group.js';

// Defined below the suites layer, so progress.ts and leases.ts need not import it; re-exported for the suites.
export type { Progress, SidecarLease, SidecarTarget } from '../contracts.js';

export interface SuiteContext {
  readonly config: ResolvedConfig;
  readonly signal: AbortSignal;
  readonly progress: Progress;
  emit(cell: CellResult): void;
  check(check: RunCheck): void;
  /**
   * Run `body` with a live sidecar for every target at once (so their cells can be interleaved),
   * each restarted on its next connect if it died, all stopped afterwards. A sidecar that would
   * not start is passed as its HarnessError (SIDECAR_START_FAILED).
   */
  withSidecars<T>(targets: readonly SidecarTarget[], body: (leases: readonly (SidecarLease | HarnessError)[]) => Promise<T>): Promise<T>;
  /**
   * Run `body` with the harness and every process it started pinned to cores (harness/affinity.ts):
   * in `layout` when given, else as `cpuPinning` says; nothing is pinned with `cpuPinning: off` or
   * where the machine does not allow it. `body` gets a description of the layout, or undefined.
   */
  pinned<T>(body: (pinning: string | undefined) => Promise<T>, layout?: Layout): Promise<T>;
  /**
   * Measure a group of arms in interleaved rounds and emit its cells (suites/group.ts). `ab` swaps
   * this for one that lets a coordinator interleave the group with the same group of another
   * version of the code (harness/ab/).
   */
  measure(arms: readonly GroupArm[], plan: GroupPlan): Promise<CellResult[]>;
}

export type SuiteRunner = (ctx: SuiteContext) => Promise<void>;
