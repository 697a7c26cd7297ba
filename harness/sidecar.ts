/**
 * Sidecar processes: spawn with execa, wait for the one JSON ready line, stop on exit, on
 * Ctrl-C and on crash. Unix sockets live in a private (0700) temporary directory. Every process
 * started here leads its own process group, which the harness owns: `killSidecarsNow` ends them
 * all and removes their directories on any way out (harness/cli/run.ts); a harness that is
 * SIGKILLed leaves only the directories (the processes get a signal when their parent dies).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { execa } from 'execa';
import { parseAddress, type Address, type Family } from '../transports/address.js';
import { HarnessError } from '../transports/errors.js';
import { REPO_ROOT, sidecarPython } from './paths.js';

export interface SidecarSpec {
  readonly model: string;
  readonly transport: string;
  readonly family: Family;
  /** Extra command-line flags for `python3 -m sidecars` (model options, http worker, ...). */
  readonly args?: readonly string[];
  readonly readyTimeoutMs?: number;
  readonly python?: string;
  /** Run this program instead of the Python sidecar; it gets the listen address as last argument. */
  readonly program?: string;
}

/** The sidecar's ready line: the address it serves on plus the core's facts (device, weights). */
export interface ReadyInfo {
  readonly event: 'ready';
  readonly model: string;
  readonly transport: string;
  readonly address: string;
  readonly pid: number;
  readonly [fact: string]: unknown;
}

export interface Sidecar {
  readonly address: Address;
  readonly ready: ReadyInfo;
  /** Settles when the process exits, for any reason (never rejects). */
  readonly exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>;
  readonly hasExited: () => boolean;
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** For tests of crash handling: SIGKILL now. */
  kill(): void;
}

const STDERR_TAIL_BYTES = 4000;
const live = new Set<Sidecar>();
/** What `killSidecarsNow` must end: every process group started and every directory not yet removed. */
const owned = new Set<() => void>();

/** Stop every sidecar still running (Ctrl-C, fatal error). */
export async function stopAllSidecars(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop(2000)));
}

/**
 * SIGKILL every process group started here (ready or still starting) and remove their directories,
 * synchronously: for a harness on its way out now (a second Ctrl-C, SIGHUP, an uncaught error),
 * which has no time to wait for a graceful stop.
 */
export function killSidecarsNow(): void {
  for (const end of [...owned]) end();
}

export async function startSidecar(spec: SidecarSpec): Promise<Sidecar> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-')); // mkdtemp makes it 0700
  const listen = spec.family === 'unix' ? `unix:${path.join(dir, 'sidecar.sock')}` : 'tcp:127.0.0.1:0';
  const [file, args] =
    spec.program !== undefined
      ? [spec.program, [...(spec.args ?? []), listen]]
      : [spec.python ?? sidecarPython(), ['-m', 'sidecars', '--model', spec.model, '--transport', spec.transport, '--listen', listen, ...(spec.args ?? [])]];
  const child = execa(file, args, {
    cwd: REPO_ROOT,
    stdin: 'ignore',
    buffer: false,
    cleanup: true,
    forceKillAfterDelay: 2000,
    reject: false,
    // Its own process group, so a stop reaches whatever it forked (gunicorn workers, a shell's child).
    detached: true,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', SIDECAR_BENCH_PARENT_PID: String(process.pid) },
  });
  child.catch(() => undefined); // settled through `exited` below; execa's own rejection is not the signal
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
  });
  let exitedFlag = false;
  // 'exit', not the execa promise: that waits for stdio to close, which an orphaned grandchild can hold open.
  const exited = new Promise<{ exitCode: number | undefined; signal: string | undefined }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolve({ exitCode: code ?? undefined, signal: signal ?? undefined });
    });
  });
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      child.kill(signal); // the group is already gone; make sure the leader is too
    }
  };
  const cleanupDir = async (): Promise<void> => {
    await rm(dir, { recursive: true, force: true });
    owned.delete(endNow);
  };
  const endNow = (): void => {
    signalGroup('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    owned.delete(endNow);
  };
  owned.add(endNow);

  let ready: ReadyInfo;
  try {
    ready = await waitForReady(child.stdout as NodeJS.ReadableStream, exited, spec.readyTimeoutMs ?? 60_000, () => stderr);
  } catch (error) {
    signalGroup('SIGKILL');
    await exited;
    await cleanupDir();
    throw error;
  }

  const sidecar: Sidecar = {
    address: parseAddress(ready.address),
    ready,
    exited,
    hasExited: () => exitedFlag,
    stderrTail: () => stderr,
    async stop(graceMs = 5000) {
      live.delete(sidecar);
      if (!exitedFlag) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      signalGroup('SIGKILL'); // anything the sidecar forked and left behind
      await cleanupDir();
    },
    kill() {
      signalGroup('SIGKILL');
    },
  };
  live.add(sidecar);
  void exited.then(() => live.delete(sidecar));
  return sidecar;
}

function waitForReady(
  stdout: NodeJS.ReadableStream,
  exited: Promise<{ exitCode: number | undefined; signal: string | undefined }>,
  timeoutMs: number,
  stderr: () => string,
): Promise<ReadyInfo> {
  return new Promise<ReadyInfo>((resolve, reject) => {
    const fail = (message: string): void => {
      clearTimeout(timer);
      lines.close();
      reject(new HarnessError('SIDECAR_START_FAILED', `${message}\n--- sidecar stderr (tail) ---\n${stderr().trim()}`, { details: { stderr: stderr() } }));
    };
    const timer = setTimeout(() => fail(`The sidecar printed no ready line within ${timeoutMs} ms`), timeoutMs);
    const lines = readline.createInterface({ input: stdout });
    lines.on('line', (line) => {
      const parsed = parseReady(line);
      if (parsed === undefined) return;
      clearTimeout(timer);
      lines.close();
      stdout.resume(); // keep draining: a full pipe would block the sidecar
      resolve(parsed);
    });
    void exited.then((info) => fail(`The sidecar exited before it was ready (exit code ${info.exitCode ?? 'none'}, signal ${info.signal ?? 'none'})`));
  });
}

function parseReady(line: string): ReadyInfo | undefined {
  try {
    const value = JSON.parse(line) as Record<string, unknown>;
    if (value['event'] === 'ready' && typeof value['address'] === 'string') return value as unknown as ReadyInfo;
  } catch {
    // Not JSON: a stray print from a library; the ready line is the one that parses.
  }
  return undefined;
}

