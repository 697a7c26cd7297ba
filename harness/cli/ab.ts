/**
 * `sidecar-bench ab --base REF --head REF [--threshold 10%] [run options]`: the regression gate.
 * Both versions are measured in the same job, interleaved round by round, each with its own
 * sidecars and clients (harness/ab/). Exit 0: no gated cell regressed; 1: one did, or failed on
 * head while ok on base, or a check failed on head, or the run was interrupted; 2: usage.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { compareSides, formatAb, type AbComparison } from '../../reports/ab.js';
import { preloadReport, writeResults } from '../../reports/write.js';
import { coordinate, emptyRun, type AbRun, type SideResult } from '../ab/coordinator.js';
import { sideFromDir, sideFromRef, startWorker, type SideOptions, type SideSource, type Worker } from '../ab/sides.js';
import { resolveConfig, type ResolvedConfig } from '../config.js';
import { harnessVersion } from '../environment.js';
import { HarnessError } from '../../transports/errors.js';
import { REPO_ROOT } from '../paths.js';
import { createProgress } from '../progress.js';
import { RESULTS_SCHEMA_VERSION, type RunResult } from '../results.js';
import { parseThreshold } from './compare.js';
import { parseFlags } from './argv.js';
import { RUN_FLAGS, parseRunFlags } from './run-flags.js';
import { appendStepSummary } from './step-summary.js';

/** The gate's matrix when no run option is given: small, one at a time, a few minutes on 2 cores. */
export const GATE_MATRIX = [
  '--quick', '--suite', 'echo,cifar', '--transports', 'framed,msgpack', '--families', 'unix',
  '--scenarios', 'single-stream', '--payloads', '3072', '--no-calibration',
  // One torch thread and 600 images a pass keep a CIFAR round's ratio within ±2% on 2 cores.
  '--sidecar-arg=--threads', '--sidecar-arg=1', '--limit', '600', '--min-rounds', '60',
];
const DEFAULT_THRESHOLD_PCT = 5;
/** Independent process sets per side: what one set happens to cost is averaged out (docs/ci-gate.md). */
const DEFAULT_REPLICAS = 2;
const MAX_REPLICAS = 8;

/** The gate's matrix as help text: its flags, a few to a line. */
const matrixLines = (): string => GATE_MATRIX.join(' ').replace(/ (--(?:scenarios|sidecar-arg=--threads))/g, '\n  $1');

export const AB_HELP = `sidecar-bench ab: measure two versions of the code in the same job, interleaved, and gate on regressions

Usage:
  sidecar-bench ab --base REF --head REF [options] [run options]
  sidecar-bench ab --base-dir DIR --head-dir DIR [options] [run options]

  --base REF, --head REF   commits of this repository (each is checked out as a worktree under .cache/ab/)
  --base-dir DIR, --head-dir DIR
                           checkouts of sidecar-bench to compare instead (your sidecar change, no git needed)
  --base-sidecar-arg ARG, --head-sidecar-arg ARG
                           an extra flag for one side's sidecars only (repeatable), e.g.
                           --head-sidecar-arg=--inject-delay-us --head-sidecar-arg=3 (a testing aid)
  --base-python PATH, --head-python PATH
                           the Python one side's sidecars run on (default: $SIDECAR_PYTHON, else
                           .venv), e.g. to measure another torch or Python version
  --threshold P            a cell regresses when head / base is significantly above 1 and its median
                           above 1 + P (default ${DEFAULT_THRESHOLD_PCT}%)
  --replicas N             independent process sets (a worker, its clients and sidecars) per side,
                           all in the same rounds; a side's figure per round is their geometric
                           mean (default ${DEFAULT_REPLICAS}, 1 to ${MAX_REPLICAS})
  --out DIR                where ab.json and each side's results go (default reports/ab/<time>)

Run options (as for \`run\`) are added to the gate's own, and a later value wins (\`--suite echo\`
gates the echo alone; \`--transports grpc\` gates gRPC). The gate's own measure the echo of framed
and msgpack over unix at 3 KiB and the CIFAR model over both, one request at a time:
  ${matrixLines()}

Exit codes: 0 no regression; 1 a gated cell regressed or failed on head, a check failed on head, or
the run was interrupted; 2 usage.
`;

function parseReplicas(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) throw new HarnessError('USAGE', `Expected \`--replicas\` to be a whole number from 1 to ${MAX_REPLICAS}, got \`${text}\``);
  return n;
}

const AB_FLAGS = {
  base: { type: 'string' },
  head: { type: 'string' },
  'base-dir': { type: 'string' },
  'head-dir': { type: 'string' },
  'base-sidecar-arg': { type: 'string', multiple: true },
  'head-sidecar-arg': { type: 'string', multiple: true },
  'base-python': { type: 'string' },
  'head-python': { type: 'string' },
  threshold: { type: 'string' },
  replicas: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Split `argv` into this command's own flags and the run options it passes on to both sides. */
function splitArgs(argv: readonly string[]): { own: string[]; run: string[] } {
  const own: string[] = [];
  const run: string[] = [];
  const takesValue = (name: string, flags: Record<string, { type: string }>): boolean => flags[name]?.type === 'string';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const name = arg.replace(/^--/, '').split('=')[0] as string;
    const into = name in AB_FLAGS || arg === '-h' ? own : run;
    into.push(arg);
    const flags: Record<string, { type: string }> = name in AB_FLAGS ? AB_FLAGS : RUN_FLAGS;
    if (!arg.includes('=') && takesValue(name, flags) && i + 1 < argv.length) into.push(argv[++i] as string);
  }
  return { own, run };
}

async function sidesOf(values: { base?: string; head?: string; 'base-dir'?: string; 'head-dir'?: string }): Promise<[SideSource, SideSource]> {
  const one = async (name: 'base' | 'head'): Promise<SideSource> => {
    const ref = values[name];
    const dir = values[`${name}-dir`];
    if ((ref === undefined) === (dir === undefined)) throw new HarnessError('USAGE', `Expected exactly one of \`--${name} REF\` and \`--${name}-dir DIR\`\n\n${AB_HELP}`);
    return ref !== undefined ? sideFromRef(name, ref) : sideFromDir(name, dir as string);
  };
  return [await one('base'), await one('head')];
}

type SideFlags = { [K in `${'base' | 'head'}-${'sidecar-arg' | 'python'}`]?: K extends `${string}-sidecar-arg` ? string[] : string };

/** One side's own flags; a Python that is not there is a usage error, before anything starts. */
function sideOptions(values: SideFlags, name: 'base' | 'head'): SideOptions {
  const python = values[`${name}-python`];
  if (python !== undefined && !existsSync(python)) throw new HarnessError('USAGE', `Expected \`--${name}-python\` to be a Python interpreter, got \`${python}\` (not found)`);
  return { sidecarArgs: values[`${name}-sidecar-arg`] ?? [], ...(python === undefined ? {} : { python }) };
}

function sideResult(side: SideResult, run: AbRun, config: ResolvedConfig, argv: readonly string[], startedAt: string): RunResult {
  return {
    schemaVersion: RESULTS_SCHEMA_VERSION,
    harnessVersion: harnessVersion(),
    startedAt,
    finishedAt: new Date().toISOString(),
    argv: ['ab', ...argv],
    config,
    environment: side.environment as unknown as RunResult['environment'],
    cells: side.cells,
    checks: side.checks,
    // A side that never said it was done was cut short: by the user, or by an error.
    status: side.status !== 'unknown' ? (side.status as RunResult['status']) : run.error === undefined ? 'interrupted' : 'failed',
  };
}

function label(side: SideSource): string {
  return side.commit === null ? `\`${side.label}\`` : `\`${side.label}\` (${side.commit.slice(0, 10)})`;
}

export async function abCommand(argv: string[]): Promise<number> {
  const { own, run: runArgs } = splitArgs(argv);
  const v = parseFlags(own, AB_FLAGS, 'ab').values;
  if (v.help === true) {
    process.stdout.write(AB_HELP);
    return 0;
  }
  // The user's run options come after the gate's own, so theirs win (`--suite echo` gates echo alone).
  const matrix = [...GATE_MATRIX, ...runArgs];
  const config = resolveConfig((await parseRunFlags(matrix)).options);
  const thresholdPct = v.threshold === undefined ? DEFAULT_THRESHOLD_PCT : parseThreshold(v.threshold);
  const options = [sideOptions(v, 'base'), sideOptions(v, 'head')] as const;
  const replicas = v.replicas === undefined ? DEFAULT_REPLICAS : parseReplicas(v.replicas);
  const sides = await sidesOf(v);
  const out = path.resolve(v.out ?? path.join(REPO_ROOT, 'reports', 'ab', new Date().toISOString().replace(/[:.]/g, '-')));
  const progress = createProgress();
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startedAt = new Date().toISOString();
  await preloadReport(); // a Ctrl-C to the whole group must still get its reports
  const workers: Worker[] = [];
  let run: AbRun = emptyRun(sides[0], sides[1]);
  try {
    progress.log(`ab: base ${label(sides[0])}, head ${label(sides[1])}; starting ${replicas} worker${replicas === 1 ? '' : 's'} a side`);
    const starting = ([0, 1] as const).flatMap((side) => Array.from({ length: replicas }, () => startWorker(sides[side], matrix, options[side])));
    const started = await Promise.allSettled(starting);
    for (const s of started) if (s.status === 'fulfilled') workers.push(s.value);
    const refused = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (refused !== undefined) throw refused.reason;
    run = await coordinate([workers.slice(0, replicas), workers.slice(replicas)], { config, thresholdPct, signal: abort.signal, progress });
    // A side that refused its options before measuring anything (e.g. `--device cuda` without CUDA) is a usage error.
    if (run.error?.code === 'USAGE' && run.base.cells.length + run.head.cells.length === 0) throw new HarnessError('USAGE', run.error.message);
  } catch (error) {
    // A side that cannot start is a usage error when it says so (an old checkout); else the run failed.
    if (error instanceof HarnessError && error.code === 'USAGE') throw error;
    const e = error instanceof HarnessError ? error : new HarnessError('INTERNAL', String(error), { cause: error });
    run.error = { code: e.code, message: e.message };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await Promise.all(workers.map((w) => w.stop()));
  }
  const comparison = compareSides(run.base.cells, run.head.cells, thresholdPct);
  const markdown = report(comparison, run, sides);
  await writeResults(path.join(out, 'base'), sideResult(run.base, run, config, argv, startedAt));
  await writeResults(path.join(out, 'head'), sideResult(run.head, run, config, argv, startedAt));
  await mkdir(out, { recursive: true });
  const headChecksFailed = run.head.checks.filter((c) => !c.ok);
  const failed = comparison.failed || headChecksFailed.length > 0 || run.interrupted || run.error !== undefined;
  const record = { base: sides[0], head: sides[1], thresholdPct, replicas, matrix, comparison, skipped: run.skipped, checks: { base: run.base.checks, head: run.head.checks }, interrupted: run.interrupted, ...(run.error === undefined ? {} : { error: run.error }), status: failed ? 'fail' : 'ok' };
  await writeFile(path.join(out, 'ab.json'), `${JSON.stringify(record, null, 1)}\n`);
  process.stdout.write(markdown);
  await appendStepSummary(markdown);
  progress.log(`  ${path.join(out, 'ab.json')}\n  ${path.join(out, 'base', 'results.json')}\n  ${path.join(out, 'head', 'results.json')}`);
  return failed ? 1 : 0;
}

/** The markdown: the verdict table, then what else a reviewer must know (checks, skipped groups, Ctrl-C). */
function report(comparison: AbComparison, run: AbRun, sides: readonly [SideSource, SideSource]): string {
  const lines = [formatAb(comparison, { base: label(sides[0]), head: label(sides[1]) })];
  for (const [name, side] of [['head', run.head], ['base', run.base]] as const) {
    for (const check of side.checks.filter((c) => !c.ok)) lines.push(`- ${name === 'head' ? '**FAIL**' : 'note'}: ${name} check \`${check.name}\`: ${check.detail}`);
  }
  for (const group of run.skipped) lines.push(`- not compared (one side only, or the sides disagree): ${group}`);
  if (run.interrupted) lines.push('- **interrupted**: the comparison is incomplete.');
  if (run.error !== undefined) lines.push(`- **FAIL**: the run ended early, ${run.error.code}: ${run.error.message.split('\n')[0]} (the cells measured before are above; the full message is in ab.json)`);
  return `${lines.join('\n')}\n`;
}
