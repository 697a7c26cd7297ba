/**
 * The total a run announces before its first cell is the number of cells it measures: counted by
 * the suites' own code (harness/plan.ts), checked here against a real run of two suites.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it, vi } from 'vitest';
import { startNativePeer } from './calibration/native-peer.js';
import { resolveConfig } from './config.js';
import { REPO_ROOT } from './paths.js';
import { planRun } from './plan.js';
import type { RunResult } from './results.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');

// Watched, not replaced: counting must get to the plan without starting the C echo peers.
vi.mock('./calibration/native-peer.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('./calibration/native-peer.js')>();
  return { ...real, startNativePeer: vi.fn(real.startNativePeer) };
});

describe('planRun', () => {
  it('counts a suite\'s cells with its own code, once per trial', async () => {
    const config = resolveConfig({ suites: ['echo'], transports: ['framed', 'http-json'], scenarios: ['single-stream', 'concurrency'], payloadBytes: [64, 3072], concurrency: [4], trials: 2 });
    // Single-stream, per payload: the floors (native-pair, native-peer, native-client, lean-node; the
    // no-op on the first family only) + framed + http-json x 2 set-ups; concurrency: native-peer + 3.
    const perTrial = 2 * (5 + 3) + 2 * (4 + 3) + 2 * (1 + 3);
    vi.mocked(startNativePeer).mockClear();
    expect(await planRun(config)).toEqual([{ suite: 'echo', cells: perTrial }, { suite: 'echo', cells: perTrial }]);
    expect(startNativePeer).not.toHaveBeenCalled();
  }, 60_000);

  it('announces a total before the first cell that no later line changes, and it is the number of cells measured', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-plan-'));
    const args = ['run', '--suite', 'echo,cifar', '--transports', 'framed', '--families', 'unix', '--scenarios', 'single-stream,concurrency', '--payloads', '64', '--concurrency', '2', '--limit', '20', '--warmup', '5', '--warmup-ms', '5', '--block-ms', '2', '--min-rounds', '6', '--max-rounds', '6', '--out', out];
    const run = await execa('node', [BIN, ...args], { reject: false, timeout: 240_000 });
    const result = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as RunResult;
    const totals = [...String(run.stderr).matchAll(/^\[\d+\/(\d+\+?) /gm)].map((m) => m[1]);
    expect(totals.length, run.stderr).toBe(result.cells.length);
    expect(new Set(totals)).toEqual(new Set([String(result.cells.length)]));
  }, 240_000);
});
