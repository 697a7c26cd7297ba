/** What a suite gets from the runner: the config, where to put results, and sidecars on demand. */
import type { Family } from '../../transports/address.js';
import type { HttpSetup, Transport, TransportName } from '../../transports/types.js';
import type { ResolvedConfig } from '../config.js';
import type { CellResult, RunCheck } from '../results.js';

export interface Progress {
  /** A cell is about to run; `label` names it. */
  start(label: string): void;
  /** A cell finished (ok or failed). */
  done(cell: CellResult): void;
  /** Announce how many cells a suite adds to the plan. */
  plan(cells: number): void;
  log(message: string): void;
}

/** A running sidecar (spawned, or the one given with --connect) that suites open clients on. */
export interface SidecarLease {
  readonly transport: TransportName;
  readonly family: Family;
  readonly httpSetup?: HttpSetup;
  readonly facts: Record<string, unknown>;
  /** Open `count` clients (one connection each). */
  connect(count: number): Promise<Transport[]>;
  /**
   * Whether the process died (so a lost connection is reported as a crash). The socket can close
   * a moment before the exit is seen, so this waits up to `graceMs` for it.
   */
  crashed(graceMs?: number): Promise<boolean>;
}

export interface SidecarTarget {
  readonly model: 'echo' | 'cifar' | 'gemma';
  readonly transport: TransportName;
  readonly family: Family;
  readonly httpSetup?: HttpSetup;
  readonly args: readonly string[];
}

export interface SuiteContext {
  readonly config: ResolvedConfig;
  readonly signal: AbortSignal;
  readonly progress: Progress;
  emit(cell: CellResult): void;
  check(check: RunCheck): void;
  /**
   * Run `body` against a live sidecar for `target`: started (or reused), restarted if it died
   * in an earlier cell, and stopped when the suite moves on. Start failures throw HarnessError.
   */
  withSidecar<T>(target: SidecarTarget, body: (lease: SidecarLease) => Promise<T>): Promise<T>;
}

export type SuiteRunner = (ctx: SuiteContext) => Promise<void>;
