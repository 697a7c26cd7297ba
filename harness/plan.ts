/**
 * How many cells a run will measure, known before its first cell, so progress has a fixed total.
 * The count comes from the suites' own code, not a copy of their matrix logic: each suite is run
 * up to the moment it announces its cells (`progress.plan`), with sidecars that are not started
 * (every lease is an error, which still makes a cell) and nothing measured. A suite that does not
 * announce within COUNT_TIMEOUT_MS, or fails first, counts as unknown (progress then says `+`).
 */
import { HarnessError } from '../transports/errors.js';
import type { ResolvedConfig, SuiteName } from './config.js';
import type { SuiteContext, SuiteRunner } from './suites/context.js';

const COUNT_TIMEOUT_MS = 5000;

/** The suites whose count can be taken this way; a suite not listed counts as unknown. */
const COUNTABLE: Partial<Record<SuiteName, () => Promise<SuiteRunner>>> = {
  echo: async () => (await import('./suites/echo.js')).runEchoSuite,
  cifar: async () => (await import('./suites/cifar.js')).runCifarSuite,
  gemma: async () => (await import('./suites/gemma.js')).runGemmaSuite,
  model: async () => (await import('./suites/model.js')).runModelSuite,
};

/** One suite's share of the plan: its cells, or undefined when they are not known in advance. */
export interface PlannedSuite {
  readonly suite: SuiteName;
  readonly cells: number | undefined;
}

class Counted extends Error {
  constructor(readonly cells: number) {
    super('counted');
  }
}

/** A context in which a suite can get as far as announcing its cells, and no further. */
function countingContext(config: ResolvedConfig, signal: AbortSignal): SuiteContext {
  const notStarted = new HarnessError('ABORTED', 'not started: counting cells');
  const ctx: SuiteContext = {
    config,
    signal,
    progress: {
      start: () => undefined,
      done: () => undefined,
      log: () => undefined,
      plan: (cells) => {
        throw new Counted(cells);
      },
    },
    emit: () => undefined,
    check: () => undefined,
    withSidecars: (targets, body) => body(targets.map(() => notStarted)),
    pinned: (body) => body(undefined),
    measure: () => Promise.reject(new Error('measure before plan')),
  };
  return ctx;
}

async function countSuite(suite: SuiteName, config: ResolvedConfig): Promise<number | undefined> {
  const load = COUNTABLE[suite];
  if (load === undefined) return undefined;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve(undefined);
    }, COUNT_TIMEOUT_MS);
  });
  const count = (async () => {
    try {
      await (await load())(countingContext(config, abort.signal));
      return undefined; // it ended without announcing
    } catch (error) {
      return error instanceof Counted ? error.cells : undefined;
    }
  })();
  try {
    return await Promise.race([count, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The run's suites in the order the runner takes them (every trial), each with its cell count. */
export async function planRun(config: ResolvedConfig): Promise<PlannedSuite[]> {
  const once: PlannedSuite[] = [];
  for (const suite of config.suites) once.push({ suite, cells: await countSuite(suite, config) });
  return Array.from({ length: config.trials }, () => once).flat();
}
