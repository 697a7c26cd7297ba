/**
 * The in-process baseline: the same model core called directly in Python (sidecars/inprocess.py),
 * in the same run, on the same inputs, so transport overhead is a measured ratio.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { HarnessError } from '../errors.js';
import { REPO_ROOT, sidecarPython } from '../paths.js';

/** Run `python -m sidecars.inprocess` with `args`, handing it `input` as a file; returns its JSON. */
export async function runInProcess(args: readonly string[], input: { name: string; bytes: Uint8Array }, timeoutMs: number): Promise<unknown> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-inproc-'));
  try {
    const file = path.join(dir, input.name);
    await writeFile(file, input.bytes);
    const result = await execa(sidecarPython(), ['-m', 'sidecars.inprocess', ...args.map((a) => a.replace('{input}', file))], {
      cwd: REPO_ROOT,
      reject: false,
      timeout: timeoutMs,
      maxBuffer: 512 * 1024 * 1024,
      env: { PYTHONDONTWRITEBYTECODE: '1' },
    });
    if (result.exitCode !== 0) {
      throw new HarnessError('SIDECAR_START_FAILED', `The in-process baseline failed (exit ${result.exitCode ?? result.signal ?? 'none'}): ${String(result.stderr).slice(-2000)}`);
    }
    try {
      return JSON.parse(String(result.stdout)) as unknown;
    } catch (error) {
      throw new HarnessError('PROTOCOL_ERROR', 'The in-process baseline printed no JSON result', { cause: error });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
