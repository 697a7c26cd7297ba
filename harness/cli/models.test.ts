/**
 * The model suites end to end, as a user runs them: a real CNN and a real decoder in real sidecars
 * and in-process, interleaved, with their checks and the transport's overhead.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.js';
import type { RunResult } from '../results.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');

async function run(args: string[]): Promise<{ exitCode: number | undefined; stderr: string; result: RunResult; csv: string }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-models-'));
  const done = await execa('node', [BIN, 'run', ...args, '--min-rounds', '6', '--out', out], { reject: false, timeout: 170_000 });
  const result = JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as RunResult;
  return { exitCode: done.exitCode, stderr: String(done.stderr), result, csv: await readFile(path.join(out, 'results.csv'), 'utf8') };
}

describe('the model suites', () => {
  it('cifar: every image over every wire agrees with the model in-process; overhead per request is never negative', async () => {
    const { exitCode, stderr, result, csv } = await run(['--suite', 'cifar', '--transports', 'framed,msgpack', '--families', 'unix', '--limit', '300', '--scenarios', 'single-stream,concurrency,offline', '--concurrency', '2,4', '--batch-sizes', '64']);
    expect(exitCode, stderr).toBe(0);
    expect(new Set(result.cells.map((c) => c.id)).size).toBe(result.cells.length); // each group's in-process floor has its own id
    expect(result.cells.filter((c) => c.transport === 'in-process').map((c) => `${c.scenario}/${c.concurrency}`).sort()).toEqual(['concurrency/2', 'concurrency/4', 'offline/1', 'single-stream/1']);
    expect(result.checks.find((c) => c.name === 'cifar: agreement')).toMatchObject({ ok: true });
    expect(result.checks.find((c) => c.name === 'cifar: accuracy')).toMatchObject({ ok: true });
    const single = result.cells.filter((c) => c.scenario === 'single-stream');
    expect(single.map((c) => c.transport).sort()).toEqual(['framed', 'in-process', 'msgpack']);
    expect(new Set(single.map((c) => c.group)).size).toBe(1);
    for (const cell of single.filter((c) => c.transport !== 'in-process')) {
      expect(cell.floor).toMatchObject({ floor: 'in-process', strict: true });
      expect(cell.floor?.estimate ?? 0).toBeGreaterThan(0.8);
      expect(cell.overhead).toMatchObject({ source: 'reply' });
      expect(cell.overhead?.low ?? -1).toBeGreaterThanOrEqual(0);
      expect(cell.overhead?.computeUs ?? 0).toBeGreaterThan(cell.overhead?.estimate ?? Infinity); // a CNN pass outweighs one IPC
      expect(cell.rounds).toHaveLength(20);
      expect(cell.metrics['accuracy']).toBeGreaterThan(0.7);
    }
    const offline = result.cells.filter((c) => c.scenario === 'offline');
    expect(offline.map((c) => c.transport).sort()).toEqual(['framed', 'in-process', 'msgpack']);
    expect(offline.find((c) => c.transport === 'framed')?.overhead?.source).toBe('reply');
    expect(csv).toMatch(/\ncifar,single-stream,framed,unix,,,,1,1,.*,in-process,\d/);
  }, 180_000);

  it('gemma: greedy outputs agree in-process and over the wire, unary and streamed', async () => {
    const tiny = ['--sidecar-arg=--config', '--sidecar-arg=tiny', '--sidecar-arg=--random-init'];
    const { exitCode, stderr, result } = await run(['--suite', 'gemma', '--transports', 'framed', '--families', 'unix', '--limit', '2', '--sampling-steps', '4', '--scenarios', 'single-stream', ...tiny]);
    expect(exitCode, stderr).toBe(0);
    expect(result.checks.find((c) => c.name === 'gemma: agreement')).toMatchObject({ ok: true, detail: expect.stringContaining('2 transport/mode passes') });
    const cells = result.cells.filter((c) => c.suite === 'gemma');
    expect(cells.map((c) => `${c.transport}/${c.streaming}`).sort()).toEqual(['framed/false', 'framed/true', 'in-process/true']);
    for (const cell of cells) {
      expect(cell.rounds).toHaveLength(6);
      expect(cell.overhead?.low ?? -1).toBeGreaterThanOrEqual(0);
      expect(cell.metrics['output_tokens']).toBeGreaterThan(0);
    }
    expect(cells.find((c) => c.streaming === true && c.transport === 'framed')?.metrics['ttft_p50_us']).toBeGreaterThan(0);
  }, 180_000);
});
