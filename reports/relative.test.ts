import { describe, expect, it } from 'vitest';
import type { CellResult, RunResult } from '../harness/results.js';
import { relativeToFloor } from './relative.js';

function cell(transport: string, family: string, p50: number, extra: Partial<CellResult> = {}): CellResult {
  return {
    id: `echo/single-stream/${transport}/${family}/payload=3072/c=1`,
    suite: 'echo',
    scenario: 'single-stream',
    transport: transport as CellResult['transport'],
    family: family as CellResult['family'],
    payloadBytes: 3072,
    concurrency: 1,
    status: 'ok',
    requests: 3,
    errors: 0,
    errorsByCode: {},
    latency: { count: 3, minUs: p50, p50Us: p50, p90Us: p50, p99Us: p50, p999Us: p50, maxUs: p50, meanUs: p50, stddevUs: 0 },
    samplesUs: [p50, p50, p50],
    throughputRps: 1e6 / p50,
    durationMs: 1,
    metrics: {},
    ...extra,
  };
}

const run = (cells: CellResult[]): RunResult => ({ cells } as unknown as RunResult);

describe('relativeToFloor', () => {
  it('divides each echo cell by the native peer of its family, and drops the floors', () => {
    const out = relativeToFloor(run([cell('native-peer', 'unix', 20), cell('native-peer', 'tcp', 40), cell('framed', 'unix', 30), cell('framed', 'tcp', 50)]));
    expect(out.cells.map((c) => [c.transport, c.family, c.latency?.p50Us])).toEqual([
      ['framed', 'unix', 1.5],
      ['framed', 'tcp', 1.25],
    ]);
    expect(out.cells[0]?.samplesUs).toEqual([1.5, 1.5, 1.5]);
  });

  it('makes a uniformly slower machine look unchanged', () => {
    const fast = relativeToFloor(run([cell('native-peer', 'unix', 20), cell('grpc', 'unix', 400)]));
    const slow = relativeToFloor(run([cell('native-peer', 'unix', 60), cell('grpc', 'unix', 1200)]));
    expect(slow.cells[0]?.latency?.p50Us).toBe(fast.cells[0]?.latency?.p50Us);
  });

  it('drops cells whose floor is missing from the run', () => {
    expect(relativeToFloor(run([cell('framed', 'unix', 30)])).cells).toEqual([]);
  });
});

describe('relativeToFloor for suites it has never heard of', () => {
  const unsized = (c: CellResult): CellResult => {
    const { payloadBytes: _, ...rest } = c;
    return rest;
  };
  const model = (transport: string, family: string, p50: number, extra: Partial<CellResult> = {}): CellResult =>
    unsized(cell(transport, family, p50, { id: `model/single-stream/${transport}/${family}/c=1`, suite: 'model' as CellResult['suite'], batch: 1, ...extra }));

  it('reads a new suite against its own in-process model, not gemma\'s', () => {
    const out = relativeToFloor(run([
      unsized(cell('in-process', 'in-process', 1000, { id: 'gemma/single-stream/in-process/in-process/c=1', suite: 'gemma' })),
      model('in-process', 'in-process', 100),
      model('framed', 'unix', 150),
    ]));
    expect(out.cells.map((c) => [c.suite, c.transport, c.latency?.p50Us])).toEqual([['model', 'framed', 1.5]]);
  });

  it('matches batch sizes: an offline batch reads against the in-process model at that batch', () => {
    const out = relativeToFloor(run([
      model('in-process', 'in-process', 100),
      model('in-process', 'in-process', 3200, { scenario: 'offline', batch: 64 }),
      model('grpc', 'unix', 4000, { scenario: 'offline', batch: 64 }),
    ]));
    expect(out.cells.map((c) => [c.batch, c.latency?.p50Us])).toEqual([[64, 1.25]]);
  });
});
