/**
 * A sidecar that hangs mid-run (SIGSTOP: alive, answering nothing) costs the cells measured on it
 * in that moment (TIMEOUT); it is then replaced like a crashed one, and the rest of the matrix runs.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.js';
import type { RunResult } from '../results.js';
import { alive } from '../testing.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');
const PAYLOADS = [0, 16, 64, 256, 1024, 3072, 8192, 65536];
const ARGS = ['--suite', 'echo', '--transports', 'framed', '--families', 'unix', '--scenarios', 'single-stream', '--payloads', PAYLOADS.join(',')];
const FAST = ['--warmup', '20', '--warmup-ms', '10', '--block-ms', '5', '--min-rounds', '6', '--max-rounds', '8', '--cpu-pinning', 'off', '--timeout-ms', '600'];

async function readResults(out: string): Promise<RunResult | undefined> {
  try {
    return JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as RunResult;
  } catch {
    return undefined;
  }
}

describe('sidecar-bench run with a sidecar that hangs', () => {
  it('fails the cells measured while it hung with TIMEOUT, then measures the rest on a fresh sidecar', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-hung-'));
    try {
      const child = execa('node', [BIN, 'run', ...ARGS, ...FAST, '--out', out], { reject: false, timeout: 60_000 });
      let hung: number | undefined;
      for (let i = 0; i < 600 && hung === undefined; i++) {
        await new Promise((r) => setTimeout(r, 25));
        const pid = (await readResults(out))?.cells.find((c) => c.transport === 'framed')?.sidecar?.['pid'];
        if (typeof pid === 'number') hung = pid;
      }
      expect(hung).toBeDefined();
      process.kill(hung!, 'SIGSTOP');
      await child;
      const result = await readResults(out);
      const failed = result?.cells.filter((c) => c.status === 'failed') ?? [];
      const seen = JSON.stringify(result?.cells.map((c) => [c.transport, c.payloadBytes, c.error?.code ?? c.status, c.sidecar?.['pid']]));
      // TIMEOUT, or for the native client (a C process the harness ends when its block overruns) a closed connection.
      expect(failed.map((c) => c.error?.code).filter((code) => code !== 'TIMEOUT' && code !== 'SIDECAR_CLOSED'), seen).toEqual([]);
      expect(failed.some((c) => c.error?.code === 'TIMEOUT'), seen).toBe(failed.length > 0);
      expect(new Set(failed.map((c) => c.payloadBytes)).size, seen).toBeLessThanOrEqual(1); // one group, at most
      const framed = result?.cells.filter((c) => c.transport === 'framed') ?? [];
      expect(framed.map((c) => c.payloadBytes)).toEqual(PAYLOADS);
      const last = framed.at(-1);
      expect(last?.status, seen).toBe('ok');
      expect(last?.sidecar?.['pid']).not.toBe(hung);
      expect(alive(hung)).toBe(false);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 90_000);
});
