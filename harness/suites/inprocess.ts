/**
 * The in-process baseline: the same model core called directly in Python (sidecars/inprocess.py),
 * held open for a suite and driven block by block, so its rounds interleave with the transports'
 * on the same inputs. Its latencies are timed inside Python: no IPC in them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { fromWireError, HarnessError } from '../../transports/errors.js';
import { lineReader } from '../lines.js';
import { REPO_ROOT, sidecarPython } from '../paths.js';

export interface InProcessModel {
  /** The ready line: the core's facts (device, weights, torch, threads). */
  readonly facts: Readonly<Record<string, unknown>>;
  /**
   * One command, one JSON reply; throws HarnessError on an error reply, a timeout or an exit. When
   * `signal` fires mid-command the process is killed (a late reply would answer the next command)
   * and the command fails with ABORTED.
   */
  command(command: Readonly<Record<string, unknown>>, timeoutMs: number, signal?: AbortSignal): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Start `python -m sidecars.inprocess` with `args` (where `{input}` is replaced by the path of a
 * private copy of `input`), and wait for its ready line.
 */
export async function startInProcess(args: readonly string[], input: { name: string; bytes: Uint8Array }, readyTimeoutMs: number): Promise<InProcessModel> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-inproc-')); // 0700
  const file = path.join(dir, input.name);
  await writeFile(file, input.bytes);
  // Its own process group: a terminal Ctrl-C reaches the harness, which ends the run in order; the
  // driver ends itself when its stdin closes.
  const child = execa(sidecarPython(), ['-m', 'sidecars.inprocess', ...args.map((a) => a.replace('{input}', file))], {
    cwd: REPO_ROOT,
    stdin: 'pipe',
    buffer: false,
    reject: false,
    cleanup: true,
    detached: true,
    env: { PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
  });
  child.catch(() => undefined); // its end shows as the stdout stream ending
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const lines = lineReader(child.stdout!);
  const stop = async (): Promise<void> => {
    child.stdin?.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await child;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };
  const next = async (timeoutMs: number, what: string): Promise<Record<string, unknown>> => {
    const got = await lines.next(timeoutMs);
    if ('timedOut' in got) throw new HarnessError('TIMEOUT', `The in-process model gave no ${what} within ${timeoutMs} ms`);
    if ('ended' in got) throw new HarnessError('SIDECAR_CLOSED', `The in-process model exited before its ${what}: ${stderr.trim().slice(-2000)}`);
    try {
      return JSON.parse(got.line) as Record<string, unknown>;
    } catch (error) {
      throw new HarnessError('PROTOCOL_ERROR', `Expected a JSON line from the in-process model, got \`${got.line.slice(0, 200)}\``, { cause: error });
    }
  };
  let facts: Record<string, unknown>;
  try {
    facts = await next(readyTimeoutMs, 'ready line');
  } catch (error) {
    child.kill('SIGKILL');
    await stop();
    const e = error as HarnessError;
    // An exit already quotes stderr's tail in its message; a timeout does not.
    const tail = e.code === 'SIDECAR_CLOSED' ? '' : `\n--- stderr (tail) ---\n${stderr.trim()}`;
    throw new HarnessError('SIDECAR_START_FAILED', `The in-process baseline did not start: ${e.message}${tail}`, { cause: error });
  }
  return {
    facts,
    async command(command, timeoutMs, signal) {
      if (interrupted(signal)) throw new HarnessError('ABORTED', 'The run was interrupted');
      child.stdin?.write(`${JSON.stringify(command)}\n`);
      const kill = (): void => void child.kill('SIGKILL');
      signal?.addEventListener('abort', kill, { once: true });
      let reply;
      try {
        reply = await next(timeoutMs, 'reply');
      } catch (error) {
        child.kill('SIGKILL'); // a late reply would answer the next command: this process is done
        throw interrupted(signal) ? new HarnessError('ABORTED', 'The run was interrupted', { cause: error }) : error;
      } finally {
        signal?.removeEventListener('abort', kill);
      }
      if (reply['error'] !== undefined) throw fromWireError(reply['error']);
      return reply;
    },
    close: stop,
  };
}

const interrupted = (signal: AbortSignal | undefined): boolean => signal?.aborted === true;
