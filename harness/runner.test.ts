import { describe, expect, it } from 'vitest';
import { resolveConfig, type BenchOptions } from './config.js';
import { HarnessError } from '../transports/errors.js';
import { cellId, type CellResult, type RunResult } from './results.js';
import { runBenchmark } from './runner.js';
import { failedCell } from './suites/cell.js';
import type { SuiteRunner } from './suites/context.js';

const quiet = { start: () => undefined, done: () => undefined, plan: () => undefined, log: () => undefined };
const key = { suite: 'echo', scenario: 'single-stream', transport: 'framed', family: 'unix', payloadBytes: 0, concurrency: 1 } as const;
const okCell = (): CellResult => ({ ...key, id: cellId(key), status: 'ok', requests: 1, errors: 0, errorsByCode: {}, durationMs: 1, metrics: {} });

async function run(echo: SuiteRunner, options: BenchOptions = {}, signal = new AbortController().signal): Promise<{ result: RunResult; updates: number }> {
  let updates = 0;
  const result = await runBenchmark({
    config: resolveConfig({ suites: ['echo'], cpuPinning: 'off', ...options }),
    argv: ['run'],
    signal,
    progress: quiet,
    onUpdate: async () => void (updates += 1),
    suiteRunners: { echo },
  });
  return { result, updates };
}

describe('runBenchmark', () => {
  it('is ok when every cell is ok and every check passes, and saves after every cell', async () => {
    const { result, updates } = await run(async (ctx) => {
      ctx.emit(okCell());
      ctx.emit(okCell());
      ctx.check({ name: 'echo: fine', ok: true, detail: '' });
    });
    expect(result.status).toBe('ok');
    expect(result.cells).toHaveLength(2);
    expect(updates).toBeGreaterThanOrEqual(4); // two cells, one check, the end
    expect(result.schemaVersion).toBe(2);
    expect(result.environment.cpuPinning).toBe('off');
    expect(result.finishedAt >= result.startedAt).toBe(true);
  });

  it('is partial when a cell failed, failed when a check failed', async () => {
    expect((await run(async (ctx) => ctx.emit(failedCell(key, new HarnessError('TIMEOUT', 'late'))))).result.status).toBe('partial');
    const failed = await run(async (ctx) => {
      ctx.emit(okCell());
      ctx.check({ name: 'cifar: agreement', ok: false, detail: '1 disagreement' });
    });
    expect(failed.result.status).toBe('failed');
  });

  it('turns a suite that throws into a failed check and goes on', async () => {
    const { result } = await run(async () => {
      throw new HarnessError('SETUP_FAILED', 'no model');
    });
    expect(result.status).toBe('failed');
    expect(result.checks).toEqual([{ name: 'echo: suite', ok: false, detail: 'SETUP_FAILED: no model' }]);
  });

  it('stops the run when a suite finds it mis-asked (USAGE: exit 2 in the CLI)', async () => {
    const failed = run(async () => {
      throw new HarnessError('USAGE', '`--model x.py:Nope`: no sidecar could load the model');
    });
    await expect(failed).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('numbers the cells of each trial, with fresh runs of every suite', async () => {
    let calls = 0;
    const { result } = await run(async (ctx) => {
      calls += 1;
      ctx.emit(okCell());
    }, { trials: 3 });
    expect(calls).toBe(3);
    expect(result.cells.map((c) => c.trial)).toEqual([1, 2, 3]);
  });

  it('is interrupted when the signal fires, keeping what was measured', async () => {
    const abort = new AbortController();
    const { result } = await run(async (ctx) => {
      ctx.emit(okCell());
      abort.abort();
    }, { trials: 2 }, abort.signal);
    expect(result.status).toBe('interrupted');
    expect(result.cells).toHaveLength(1);
  });
});
