/**
 * The model suite end to end, as a user runs it: `run --suite model --model file.py:Class` with
 * real sidecars on every wire, the in-process driver, results on disk; a model whose answers
 * depend on the process (so the agreement check must fail); a `--model` that cannot load.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.js';
import type { RunResult } from '../results.js';
import { MIN_REQUESTS_PER_ROUND } from './model.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');
const SMALL = ['--limit', '16', '--min-rounds', '6', '--warmup', '5', '--device', 'cpu', '--no-calibration'];

async function run(args: string[]): Promise<{ exitCode: number | undefined; stderr: string; out: string }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-model-'));
  const child = await execa('node', [BIN, 'run', '--suite', 'model', ...args, '--out', out], { reject: false, cwd: REPO_ROOT });
  return { exitCode: child.exitCode, stderr: `${child.stdout}\n${child.stderr}`, out };
}

const results = async (out: string): Promise<RunResult> => JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as RunResult;

describe('run --suite model', () => {
  it('measures the example model on every transport x family and in-process, and every wire agrees with it', async () => {
    const { exitCode, stderr, out } = await run(['--model', 'examples/tabular_mlp.py:TabularMLP', ...SMALL]);
    expect(exitCode, stderr).toBe(0);
    const result = await results(out);
    expect(result.status).toBe('ok');
    const cells = result.cells.filter((c) => c.suite === 'model');
    const names = cells.map((c) => `${c.transport}${c.tensorEncoding === undefined ? '' : `/${c.tensorEncoding}`} ${c.family}`).sort();
    expect(names).toEqual(
      ['framed', 'msgpack', 'grpc', 'http-json/binary', 'http-json/json'].flatMap((t) => [`${t} tcp`, `${t} unix`]).concat('in-process in-process').sort(),
    );
    for (const cell of cells) {
      expect(cell.status, `${cell.id}: ${cell.error?.message}`).toBe('ok');
      expect(cell.scenario).toBe('single-stream');
      expect(cell.group).toBe('model single-stream c=1');
      expect(cell.latency?.p50Us ?? 0).toBeGreaterThan(0);
      // 16 requests, 16 rounds: each round still sends 10, so its median is a warm request.
      expect(cell.requests).toBe(MIN_REQUESTS_PER_ROUND * (cell.rounds?.length ?? 0));
      if (cell.transport === 'in-process') continue;
      expect(cell.floor?.floor).toBe('in-process');
      expect(cell.overhead?.source).toBe('reply');
      expect(cell.overhead?.computeUs ?? 0).toBeGreaterThan(0);
    }
    expect(new Set(cells.map((c) => c.id)).size).toBe(cells.length);
    const agreement = result.checks.find((c) => c.name === 'model: agreement');
    expect(agreement?.ok, agreement?.detail).toBe(true);
    const metadata = result.checks.find((c) => c.name === 'model: metadata');
    expect(metadata?.detail).toMatch(/^tabular-mlp: inputs features FP32 \[-1, 32\]/);
  }, 600_000);

  it('fails the agreement check, naming the first mismatch, when a model answers differently on a wire', async () => {
    const { exitCode, stderr, out } = await run(['--model', 'harness/suites/fixtures/pid_model.py:PidModel', '--transports', 'framed,msgpack', '--families', 'unix', ...SMALL]);
    expect(exitCode, stderr).toBe(1);
    const result = await results(out);
    expect(result.status).toBe('failed');
    expect(result.cells.filter((c) => c.suite === 'model' && c.status === 'ok')).toHaveLength(3);
    const agreement = result.checks.find((c) => c.name === 'model: agreement');
    expect(agreement?.ok).toBe(false);
    expect(agreement?.detail).toMatch(/first: (framed|msgpack) over unix, request \d+: .*`pid` differs at element 0/);
  }, 300_000);

  it('stops before any cell with exit 2 when no sidecar can load the model', async () => {
    const missing = await run(['--model', 'examples/tabular_mlp.py:NoSuchClass', '--transports', 'framed', '--families', 'unix', ...SMALL]);
    expect(missing.exitCode, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/USAGE: `--model examples\/tabular_mlp.py:NoSuchClass`: no sidecar could load the model \(SIDECAR_START_FAILED\)/);
    expect(missing.stderr).toContain('NoSuchClass');
    expect((await results(missing.out)).cells).toHaveLength(0);
    const spelled = await run(['--model', 'examples/tabular_mlp.py', ...SMALL]);
    expect(spelled.exitCode).toBe(2);
    expect(spelled.stderr).toContain('Expected `--model` to be path/to/file.py:Class');
  }, 300_000);
});
