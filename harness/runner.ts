/**
 * Runs the configured suites and collects plain results. Failures are data: a cell that fails
 * is recorded with its code and the matrix goes on; an abort (Ctrl-C) stops after the cell in
 * progress and keeps everything measured so far.
 */
import type { ResolvedConfig, SuiteName } from './config.js';
import { createPinning } from './affinity.js';
import { captureEnvironment, checkDevice, harnessVersion } from './environment.js';
import { toHarnessError } from '../transports/errors.js';
import { withSidecars } from './leases.js';
import { RESULTS_SCHEMA_VERSION, type RunResult } from './results.js';
import type { Progress, SuiteContext, SuiteRunner } from './suites/context.js';
import { measureGroup } from './suites/group.js';

const SUITE_RUNNERS = {
  echo: async () => (await import('./suites/echo.js')).runEchoSuite,
  cifar: async () => (await import('./suites/cifar.js')).runCifarSuite,
  gemma: async () => (await import('./suites/gemma.js')).runGemmaSuite,
  model: async () => (await import('./suites/model.js')).runModelSuite,
} satisfies Record<SuiteName, () => Promise<SuiteRunner>>;

export interface RunOptions {
  readonly config: ResolvedConfig;
  readonly argv: readonly string[];
  readonly signal: AbortSignal;
  readonly progress: Progress;
  /** Called after every cell with the results so far, so a crash or Ctrl-C loses nothing. */
  readonly onUpdate?: (result: RunResult) => Promise<void>;
  /** The code that runs each suite: the real suites unless given (tests drive the runner with their own). */
  readonly suiteRunners?: Partial<Record<SuiteName, SuiteRunner>>;
  /** How a group is measured: here, in interleaved rounds (the default), or by an `ab` coordinator. */
  readonly measureGroup?: typeof measureGroup;
}

export async function runBenchmark(options: RunOptions): Promise<RunResult> {
  const { config, signal, progress } = options;
  const result: RunResult = {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    harnessVersion: harnessVersion(),
    startedAt: new Date().toISOString(),
    finishedAt: '',
    argv: options.argv,
    config,
    environment: await captureEnvironment(),
    cells: [],
    checks: [],
    // Until the end: a file read mid-run, or left by a harness that was killed, never claims `ok`.
    status: 'running',
  };
  // A model run on a CUDA that is not there stops here, before any cell (exit 2).
  if (config.connect === undefined && config.suites.some((s) => s !== 'echo')) checkDevice(config.device, result.environment);
  let pending: Promise<void> = Promise.resolve();
  const save = (): void => {
    result.finishedAt = new Date().toISOString();
    if (options.onUpdate !== undefined) pending = pending.then(() => options.onUpdate?.(result));
  };
  let trial = 1;
  const layout = config.cpuPinning;
  const pinning = layout === 'off' ? undefined : await createPinning();
  result.environment.cpuPinning = pinning === undefined ? 'off' : 'unavailable' in pinning ? `unavailable: ${pinning.unavailable}` : `echo groups ${layout}: harness on core ${pinning.cpu}`;
  save(); // on disk before the first cell
  const ctx: SuiteContext = {
    config,
    signal,
    progress,
    emit(cell) {
      result.cells.push(config.trials > 1 ? { ...cell, trial } : cell);
      progress.done(cell);
      save();
    },
    check(check) {
      result.checks.push(check);
      save();
    },
    withSidecars: (targets, body) => withSidecars(targets, config, body),
    measure: (arms, plan) => (options.measureGroup ?? measureGroup)(ctx, arms, plan),
    async pinned(body, requested) {
      const chosen = requested ?? layout;
      if (layout === 'off' || chosen === 'off' || pinning === undefined || 'unavailable' in pinning || !(await pinning.pin(chosen))) return body(undefined);
      try {
        return await body(chosen === 'shared' ? `shared core ${pinning.cpu}` : `harness core ${pinning.cpu}, servers the other cores`);
      } finally {
        await pinning.unpin();
      }
    },
  };
  // Trials repeat the whole matrix with fresh sidecars, so they are independent samples.
  for (trial = 1; trial <= config.trials && !signal.aborted; trial++) {
    for (const suite of config.suites) {
      if (signal.aborted) break;
      try {
        await (options.suiteRunners?.[suite] ?? (await SUITE_RUNNERS[suite]()))(ctx);
      } catch (error) {
        const e = toHarnessError(error);
        // A suite that finds the run mis-asked (a `--model` no sidecar can load) stops the run: exit 2.
        if (e.code === 'USAGE') throw e;
        ctx.check({ name: `${suite}: suite`, ok: false, detail: `${e.code}: ${e.message}` });
      }
    }
  }
  result.status = signal.aborted
    ? 'interrupted'
    : result.checks.some((c) => !c.ok)
      ? 'failed'
      : result.cells.some((c) => c.status === 'failed')
        ? 'partial'
        : 'ok';
  save();
  await pending;
  return result;
}
