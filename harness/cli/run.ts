/**
 * `sidecar-bench run`: resolve the config, run the matrix, write results as they come. Every way
 * out leaves results.json with the run's true status and no process or directory behind: a first
 * Ctrl-C, SIGTERM, SIGHUP or closed output ends the run in order (bounded in time, but for Ctrl-C);
 * a second signal or an uncaught error quits at once. A SIGKILL leaves the file saying `running`.
 */
import path from 'node:path';
import { adviceFor } from '../../reports/advice.js';
import { answerText } from '../../reports/answer.js';
import { linkLatest, preloadReport, writeResults, type WrittenFiles } from '../../reports/write.js';
import { resolveConfig, type BenchOptions, type ResolvedConfig } from '../config.js';
import { probeConnect } from '../connect-probe.js';
import type { Progress } from '../contracts.js';
import { toHarnessError, type HarnessError } from '../../transports/errors.js';
import { REPO_ROOT } from '../paths.js';
import { planRun } from '../plan.js';
import { createProgress } from '../progress.js';
import type { RunResult } from '../results.js';
import { runBenchmark } from '../runner.js';
import { killSidecarsNow, stopAllSidecars } from '../sidecar.js';
import { runHelp } from './help.js';
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

/**
 * With --connect, the server's wire is checked before anything runs. Transports the user named must
 * all be spoken; left to the default, the run keeps those the server speaks, and says so.
 */
async function connectedConfig(config: ResolvedConfig, options: BenchOptions, progress: Progress): Promise<ResolvedConfig> {
  if (config.connect === undefined) return config;
  const speaking = await probeConnect(config, config.transports, options.transports !== undefined);
  if (speaking.length === config.transports.length) return config;
  progress.log(`--connect ${config.connect} speaks ${speaking.join(', ')}: measuring ${speaking.length === 1 ? 'that wire' : 'those wires'} only (\`--transports\` chooses)`);
  return resolveConfig({ ...options, transports: speaking });
}

/**
 * Counting the cells may start a C echo peer for a moment: a signal then quits at once, as before
 * any cell, but takes that peer along (nothing is written yet, so there is nothing to finish).
 */
async function beforeTheRun<T>(work: Promise<T>): Promise<T> {
  const quit = (signal: Signal): void => {
    killSidecarsNow();
    process.exit(SIGNAL_EXIT[signal]);
  };
  for (const s of SIGNALS) process.on(s, quit);
  try {
    return await work;
  } finally {
    for (const s of SIGNALS) process.off(s, quit);
  }
}

/** A run produced results when at least one cell was measured: only then does reports/latest move to it. */
export function producedResults(result: RunResult): boolean {
  return result.cells.some((c) => c.status === 'ok');
}

/** The end of a run: checks, the answer, what to do about unstable cells, then where the files are. */
function printEnd(progress: Progress, result: RunResult, written: WrittenFiles, latest: string | undefined): void {
  for (const check of result.checks) progress.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
  progress.log('');
  try {
    progress.log(answerText(result).trimEnd());
  } catch (error) {
    // The results are on disk whatever the table's trouble; say so rather than lose the paths below.
    progress.log(`(the answer table could not be written: ${toHarnessError(error).message})`);
  }
  const advice = adviceFor(result);
  progress.log(`\n${advice.headline}`);
  for (const line of advice.lines) progress.log(`  ${line}`);
  const failed = result.cells.filter((c) => c.status === 'failed').length;
  const files = [written.json, written.csv, ...(written.html === undefined ? [] : [written.html])];
  progress.log(`\n${result.cells.length} cells (${failed} failed), status ${result.status}`);
  progress.log(latest === undefined ? `Results:\n${files.map((f) => `  ${f}`).join('\n')}` : `Results in ${latest} (reports/latest now points at ${path.dirname(written.json)}):\n${files.map((f) => `  ${path.join(latest, path.basename(f))}`).join('\n')}`);
}

export async function runCommand(argv: string[]): Promise<number> {
  const { options, help } = await parseRunFlags(argv);
  if (help) {
    process.stdout.write(runHelp());
    return 0;
  }
  const early = createProgress();
  // Everything that can refuse the run does so here, before a file is written or a cell is run.
  const config = await connectedConfig(resolveConfig(options), options, early);
  const out = path.resolve(config.out ?? defaultOutDir());
  const progress = createProgress(process.stderr, await beforeTheRun(planRun(config)));
  const abort = new AbortController();
  const files = resultsFiles(out);
  const exits = watchExits(abort, files, progress);
  try {
    await preloadReport(); // a Ctrl-C to the whole group must still get its report
    const result = await runBenchmark({ config, argv: ['run', ...argv], signal: abort.signal, progress, onUpdate: files.save });
    const written = await files.final(result);
    const reports = path.join(REPO_ROOT, 'reports');
    const moveLatest = config.out === undefined && producedResults(result);
    if (moveLatest) await linkLatest(reports, out);
    printEnd(progress, result, written, moveLatest ? path.relative(process.cwd(), path.join(reports, 'latest')) || path.join(reports, 'latest') : undefined);
    if (config.out === undefined && !moveLatest) progress.log('reports/latest was left where it was: this run measured no cell');
    return result.status === 'ok' ? 0 : 1;
  } catch (error) {
    await files.end('failed', toHarnessError(error));
    throw error;
  } finally {
    exits.dispose();
    await stopAllSidecars();
  }
}
