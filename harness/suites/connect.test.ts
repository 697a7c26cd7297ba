/** What --connect changes in the suites: one target per transport, cells labelled by the address, capacity without a baseline. */
import { describe, expect, it } from 'vitest';
import { resolveConfig, type BenchOptions } from '../config.js';
import { cellId, seriesName, type CellKey, type CellResult } from '../results.js';
import type { SuiteContext } from './context.js';
import { capacityOf, notOurModel } from './model-arms.js';
import { sidecarTargets, targetKeyFields } from './targets.js';

const ctxOf = (options: BenchOptions): SuiteContext => ({ config: resolveConfig(options) }) as SuiteContext;

describe('--connect targets', () => {
  it('spawned: http-json once per server stack for the echo suite, grpc once per server, each labelled with its default client', () => {
    const ctx = ctxOf({ transports: ['framed', 'http-json', 'grpc'], families: ['unix'], grpcServers: ['thread', 'aio-uvloop'], grpcClients: ['lean-http2', 'grpc-js'] });
    const targets = sidecarTargets(ctx, 'echo', true);
    expect(targets.map((t) => `${t.transport} ${t.httpStack ?? t.grpcServer ?? '-'}`)).toEqual(['framed -', 'http-json gunicorn-sync', 'http-json gunicorn-gthread', 'grpc thread', 'grpc aio-uvloop']);
    expect(targets.map((t) => targetKeyFields(ctx, t))).toEqual([
      {},
      { httpStack: 'gunicorn-sync', httpClient: 'undici' },
      { httpStack: 'gunicorn-gthread', httpClient: 'undici' },
      { grpcServer: 'thread', grpcClient: 'lean-http2' },
      { grpcServer: 'aio-uvloop', grpcClient: 'lean-http2' },
    ]);
    expect(sidecarTargets(ctx, 'gemma', false).map((t) => t.httpStack ?? t.grpcServer ?? '-')).toEqual(['-', 'gunicorn-gthread', 'thread']);
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
    expect(cellId(key)).toBe('echo/single-stream/http-json/tcp/client=undici/at=tcp:127.0.0.1:5000/payload=64/c=1');
    expect(seriesName(key)).toBe('http-json (tcp:127.0.0.1:5000, undici)');
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
