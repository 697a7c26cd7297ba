/** What --connect changes in the suites: one target per transport, cells labelled by the address, capacity without a baseline. */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type BenchOptions } from '../config.js';
import { cellId, seriesName, type CellKey, type CellResult } from '../results.js';
import type { SuiteContext } from './context.js';
import { capacityOf, notOurModel } from './model-arms.js';
import { sidecarTargets, targetKeyFields } from './targets.js';

const ctxOf = (options: BenchOptions): SuiteContext => ({ config: resolveConfig(options) }) as SuiteContext;

describe('--connect targets', () => {
  it('spawned: http-json once per gunicorn set-up for the echo suite', () => {
    const ctx = ctxOf({ transports: ['framed', 'http-json'], families: ['unix'] });
    const targets = sidecarTargets(ctx, 'echo', true);
    expect(targets.map((t) => `${t.transport} ${t.httpSetup ?? '-'}`)).toEqual(['framed -', 'http-json sync', 'http-json gthread']);
    expect(targets.map((t) => targetKeyFields(ctx, t))).toEqual([{}, { httpSetup: 'sync' }, { httpSetup: 'gthread' }]);
    expect(notOurModel(ctx)).toBeUndefined();
  });

  it('connected: one target per transport, on the address\'s family, labelled by the address', () => {
    const ctx = ctxOf({ transports: ['framed', 'http-json'], connect: 'tcp:127.0.0.1:5000' });
    const targets = sidecarTargets(ctx, 'echo', true);
    expect(targets).toEqual([
      { model: 'echo', transport: 'framed', family: 'tcp' },
      { model: 'echo', transport: 'http-json', family: 'tcp' },
    ]);
    const key: CellKey = { suite: 'echo', scenario: 'single-stream', transport: 'http-json', family: 'tcp', concurrency: 1, ...targetKeyFields(ctx, targets[1]!), payloadBytes: 64 };
    expect(cellId(key)).toBe('echo/single-stream/http-json/tcp/at=tcp:127.0.0.1:5000/payload=64/c=1');
    expect(seriesName(key)).toBe('http-json (tcp:127.0.0.1:5000)');
    expect(notOurModel(ctx)).toContain('--connect tcp:127.0.0.1:5000');
  });
});

describe('capacityOf', () => {
  const cell = (transport: CellResult['transport'], p50Us: number, status: CellResult['status'] = 'ok'): CellResult =>
    ({ transport, status, latency: { p50Us } }) as unknown as CellResult;

  it('is the in-process model\'s rate when it was measured, else the fastest server\'s, else 1', () => {
    expect(capacityOf([cell('framed', 100), cell('in-process', 1000)])).toBe(1000);
    expect(capacityOf([cell('framed', 500), cell('http-json', 250), cell('grpc', 1, 'failed')])).toBe(4000);
    expect(capacityOf([cell('in-process', 1, 'failed'), cell('framed', 100)])).toBe(10_000);
    expect(capacityOf([])).toBe(1);
  });
});
