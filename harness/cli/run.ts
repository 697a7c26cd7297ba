/**
 * `sidecar-bench run`: resolve the config, run the matrix, write results as they come. Every way
 * out leaves results.json with the run's true status and no process or directory behind: a first
 * Ctrl-C, SIGTERM, SIGHUP or closed output ends the run in order (bounded in time, but for Ctrl-C);
 * a second signal or an uncaught error quits at once. A SIGKILL leaves the file saying `running`.
 */
import path from 'node:path';
import { adviceFor } from '../../reports/advice.js';
import { linkLatest, preloadReport, writeResults, type WrittenFiles } from '../../reports/write.js';
import { resolveConfig } from '../config.js';
import { toHarnessError, type HarnessError } from '../../transports/errors.js';
import { REPO_ROOT } from '../paths.js';
import { createProgress } from '../progress.js';
import type { RunResult } from '../results.js';
import { runBenchmark } from '../runner.js';
import { killSidecarsNow, stopAllSidecars } from '../sidecar.js';
import type { Progress } from '../suites/context.js';
import { HELP } from './main.js';
import { parseRunFlags } from './run-flags.js';

/** After SIGTERM, SIGHUP or a closed output (nobody there to press Ctrl-C again), the orderly end may take this long. */
const ORDERLY_END_MS = 5000;
/** Quitting at once still waits this long for results.json to be written. */
const LAST_WRITE_MS = 3000;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Signal = (typeof SIGNALS)[number];
/** Quitting at once exits as the shell reports a death by the signal: 128 + its number. */
const SIGNAL_EXIT: Record<Signal, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
/** A closed stdout or stderr (`run ... 2>&1 | head`) is treated as SIGPIPE would be, which Node ignores. */
const CLOSED_OUTPUT_EXIT = 141;

function defaultOutDir(): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return path.join(REPO_ROOT, 'reports', 'runs', stamp);
}

/**
 * The run's files, written one at a time (a later write never lands under an earlier one). Once
 * `end` has written the status the run ended with, nothing the run still does is written over it.
 */
function resultsFiles(out: string) {
  let result: RunResult | undefined;
  let ended = false;
  let queue: Promise<unknown> = Promise.resolve();
  const write = (r: RunResult, html: boolean): Promise<WrittenFiles> => {
    const next = queue.then(() => writeResults(out, r, { html }));
    queue = next.catch(() => undefined);
    return next;
  };
  return {
    save: async (r: RunResult): Promise<void> => {
      result = r;
      if (!ended) await write(r, false);
    },
    final: (r: RunResult): Promise<WrittenFiles> => write(r, true),
    /** The run ends here: `status` unless it had ended with its own; a harness failure is a failed check (`failed`). */
    async end(status: 'interrupted' | 'failed', failure?: HarnessError): Promise<void> {
      if (result === undefined) return; // nothing was written yet
      ended = true;
      // A copy: the run may still change its own result before the write's turn comes.
      const last: RunResult = {
        ...result,
        cells: [...result.cells],
        checks: failure === undefined ? [...result.checks] : [...result.checks, { name: 'harness', ok: false, detail: `${failure.code}: ${failure.message}` }],
        status: failure !== undefined || result.status === 'running' ? status : result.status,
        finishedAt: new Date().toISOString(),
      };
      await write(last, false).catch(() => undefined);
    },
  };
}

type Files = ReturnType<typeof resultsFiles>;

/** Listen for every way out of a run; `dispose` once it has ended in order. */
function watchExits(abort: AbortController, files: Files, progress: Progress): { dispose(): void } {
  let signals = 0;
  let quitting = false;
  let outputClosed = false;
  let deadline: NodeJS.Timeout | undefined;
  const quitNow = async (status: 'interrupted' | 'failed', exitCode: number, failure?: HarnessError): Promise<void> => {
    if (quitting) return;
    quitting = true;
    abort.abort();
    killSidecarsNow();
    await Promise.race([files.end(status, failure), new Promise((r) => setTimeout(r, LAST_WRITE_MS))]);
    process.exit(exitCode);
  };
  const endInOrder = (why: string, exitCode: number | undefined): void => {
    progress.log(`${why}: finishing the cell in progress, writing results, stopping sidecars (Ctrl-C again to quit now)`);
    abort.abort();
    if (exitCode !== undefined && deadline === undefined) deadline = setTimeout(() => void quitNow('interrupted', exitCode), ORDERLY_END_MS).unref();
  };
  const onSignal = (signal: Signal): void => {
    signals += 1;
    if (signals === 1) endInOrder(signal === 'SIGINT' ? 'interrupted' : signal, signal === 'SIGINT' ? undefined : SIGNAL_EXIT[signal]);
    else void quitNow('interrupted', SIGNAL_EXIT[signal]);
  };
  // EPIPE on a pipe whose reader left, EIO on a terminal that hung up: nobody reads any more.
  const onOutputError = (): void => {
    if (outputClosed) return;
    outputClosed = true;
    signals += 1;
    endInOrder('output closed', CLOSED_OUTPUT_EXIT);
  };
  const onUncaught = (error: unknown): void => {
    const e = toHarnessError(error);
    if (!outputClosed) process.stderr.write(`sidecar-bench: ${e.code}: ${error instanceof Error ? (error.stack ?? e.message) : e.message}\n`);
    void quitNow('failed', 1, e);
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  process.on('uncaughtException', onUncaught);
  return {
    dispose() {
      clearTimeout(deadline);
      for (const s of SIGNALS) process.off(s, onSignal);
      process.off('uncaughtException', onUncaught);
      // A closed output keeps its listener: the writes still to come must not throw.
      if (!outputClosed) {
        process.stdout.off('error', onOutputError);
        process.stderr.off('error', onOutputError);
      }
    },
  };
}

export async function runCommand(argv: string[]): Promise<number> {
  const { options, help } = await parseRunFlags(argv);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  const config = resolveConfig(options);
  const out = path.resolve(config.out ?? defaultOutDir());
  const progress = createProgress();
  const abort = new AbortController();
  const files = resultsFiles(out);
  const exits = watchExits(abort, files, progress);
  try {
    await preloadReport(); // a Ctrl-C to the whole group must still get its report
    const result = await runBenchmark({ config, argv: ['run', ...argv], signal: abort.signal, progress, onUpdate: files.save });
    const written = await files.final(result);
    if (config.out === undefined) await linkLatest(path.join(REPO_ROOT, 'reports'), out);
    for (const check of result.checks) progress.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
    const advice = adviceFor(result);
    progress.log(advice.headline);
    for (const line of advice.lines) progress.log(`  ${line}`);
    const failed = result.cells.filter((c) => c.status === 'failed').length;
    progress.log(`${result.cells.length} cells (${failed} failed), status ${result.status}\n  ${written.json}\n  ${written.csv}${written.html === undefined ? '' : `\n  ${written.html}`}`);
    return result.status === 'ok' ? 0 : 1;
  } catch (error) {
    await files.end('failed', toHarnessError(error));
    throw error;
  } finally {
    exits.dispose();
    await stopAllSidecars();
  }
}
