/**
 * The two sides of an A/B comparison: a checkout for each (a git worktree of a ref under
 * .cache/ab/, or a directory given), and a worker process started from it, so each side measures
 * with its own sidecars and its own clients. Both sides share this checkout's node_modules and
 * .venv (linked in when a side has none) and its data (CIFAR10_DIR, SIDECAR_MODELS_DIR).
 */
import { existsSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { locateCifar10 } from '../../datasets/locate.js';
import { HarnessError } from '../../transports/errors.js';
import { lineReader, type LineReader } from '../lines.js';
import { REPO_ROOT, sharedDir } from '../paths.js';
import { AB_PROTOCOL, type Command, type WorkerEvent } from './protocol.js';

export interface SideSource {
  readonly name: 'base' | 'head';
  /** How the user named it: a git ref, or a directory. */
  readonly label: string;
  readonly dir: string;
  /** The commit checked out, when known. */
  readonly commit: string | null;
}

async function git(args: readonly string[], cwd = REPO_ROOT): Promise<string> {
  const result = await execa('git', args, { cwd, reject: false });
  if (result.exitCode !== 0) throw new HarnessError('USAGE', `\`git ${args.join(' ')}\` failed: ${String(result.stderr).trim()}`);
  return String(result.stdout).trim();
}

/** Link `name` (node_modules, .venv) from this checkout into `dir` when it has none. */
async function linkShared(dir: string, name: string): Promise<void> {
  const target = path.join(dir, name);
  if (existsSync(target) || !existsSync(path.join(REPO_ROOT, name)) || path.resolve(dir) === REPO_ROOT) return;
  await symlink(path.join(REPO_ROOT, name), target);
}

function checkSide(dir: string, label: string): void {
  if (!existsSync(path.join(dir, 'harness', 'bin.js'))) throw new HarnessError('USAGE', `Expected \`${label}\` to be a sidecar-bench checkout (no harness/bin.js in ${dir})`);
  if (!existsSync(path.join(dir, 'harness', 'ab', 'worker.ts'))) throw new HarnessError('USAGE', `\`${label}\` predates \`sidecar-bench ab\` (no harness/ab/worker.ts): compare it with \`compare\` instead`);
}

/** A side from a git ref: a detached worktree of its commit, made once and reused. */
export async function sideFromRef(name: SideSource['name'], ref: string): Promise<SideSource> {
  const commit = await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).catch(() => {
    throw new HarnessError('USAGE', `Expected \`--${name}\` to name a commit of this repository, got \`${ref}\` (fetch it first, e.g. \`git fetch origin ${ref}\`)`);
  });
  const dir = path.join(REPO_ROOT, '.cache', 'ab', commit);
  if (!existsSync(path.join(dir, 'harness'))) {
    await mkdir(path.dirname(dir), { recursive: true });
    await git(['worktree', 'prune']);
    await git(['worktree', 'add', '--detach', '--force', dir, commit]);
  }
  checkSide(dir, ref);
  await linkShared(dir, 'node_modules');
  await linkShared(dir, '.venv');
  return { name, label: ref, dir, commit };
}

/** A side from a directory holding a sidecar-bench checkout (yours, with your sidecar change). */
export async function sideFromDir(name: SideSource['name'], dir: string): Promise<SideSource> {
  const resolved = path.resolve(dir);
  checkSide(resolved, dir);
  await linkShared(resolved, 'node_modules');
  await linkShared(resolved, '.venv');
  const commit = await git(['rev-parse', 'HEAD'], resolved).catch(() => null);
  return { name, label: dir, dir: resolved, commit };
}

/** A running worker: its events in order, commands to it, and its end. */
export interface Worker {
  readonly side: SideSource;
  next(timeoutMs: number): Promise<WorkerEvent>;
  send(command: Command): void;
  stop(): Promise<void>;
  stderrTail(): string;
}

/** The data both sides read, found by this checkout (a worktree under .cache/ has no ../shared beside it). */
function sharedEnv(runArgs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = { PYTHONDONTWRITEBYTECODE: '1' };
  const dataFlag = runArgs.indexOf('--data');
  const data = locateCifar10({ data: dataFlag >= 0 ? runArgs[dataFlag + 1] : undefined });
  if (data !== undefined) env['CIFAR10_DIR'] = data.dir;
  const models = process.env['SIDECAR_MODELS_DIR'] ?? sharedDir('models');
  if (models !== undefined) env['SIDECAR_MODELS_DIR'] = models;
  return env;
}

/** What one side changes beyond its checkout: flags for its sidecars, the Python they run on. */
export interface SideOptions {
  readonly sidecarArgs: readonly string[];
  readonly python?: string;
}

export async function startWorker(side: SideSource, runArgs: readonly string[], options: SideOptions): Promise<Worker> {
  const args = [path.join(side.dir, 'harness', 'bin.js'), 'ab-worker', ...runArgs, ...options.sidecarArgs.map((a) => `--sidecar-arg=${a}`)];
  const env = { ...sharedEnv(runArgs), ...(options.python === undefined ? {} : { SIDECAR_PYTHON: path.resolve(options.python) }) };
  // Its own process group: a Ctrl-C reaches the coordinator, which ends both sides in order.
  const child = execa('node', args, { cwd: side.dir, stdin: 'pipe', buffer: false, reject: false, cleanup: true, detached: true, env });
  child.catch(() => undefined);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const events: LineReader = lineReader(child.stdout!);
  const worker: Worker = {
    side,
    async next(timeoutMs) {
      const got = await events.next(timeoutMs);
      if ('line' in got) {
        try {
          return JSON.parse(got.line) as WorkerEvent;
        } catch {
          throw new HarnessError('PROTOCOL_ERROR', `The ${side.name} worker wrote \`${got.line.slice(0, 200)}\`, not a JSON event`);
        }
      }
      const why = 'timedOut' in got ? `gave no answer within ${timeoutMs} ms` : 'exited';
      throw new HarnessError('timedOut' in got ? 'TIMEOUT' : 'SIDECAR_CLOSED', `The ${side.name} worker (${side.label}) ${why}\n--- its stderr (tail) ---\n${stderr.trim()}`);
    },
    send(command) {
      child.stdin?.write(`${JSON.stringify(command)}\n`);
    },
    async stop() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await child;
      clearTimeout(timer);
    },
    stderrTail: () => stderr,
  };
  const hello = await worker.next(180_000);
  if (hello.event !== 'hello' || hello.protocol !== AB_PROTOCOL) {
    await worker.stop();
    throw new HarnessError('USAGE', `The ${side.name} side (${side.label}) speaks ab protocol ${hello.event === 'hello' ? hello.protocol : 'none'}, this harness ${AB_PROTOCOL}`);
  }
  return worker;
}
