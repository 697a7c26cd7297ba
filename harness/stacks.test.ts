/**
 * Server stacks and client libraries in the harness (issue 15): flags, config (defaults, --quick,
 * the old --http-setups spelling, nearest-name errors), cell keys and CSV columns, and how many
 * cells the echo and cifar suites plan (a sidecar per server, an arm per client on it).
 */
import { describe, expect, it } from 'vitest';
import { cellRow } from '../reports/csv.js';
import { parseRunFlags } from './cli/run-flags.js';
import { resolveConfig, type BenchOptions } from './config.js';
import { planRun } from './plan.js';
import { cellId, seriesName, type CellKey, type CellResult } from './results.js';

const usage = (options: BenchOptions): string => {
  try {
    resolveConfig(options);
    return 'no error';
  } catch (error) {
    return `${(error as { code?: string }).code}: ${(error as Error).message}`;
  }
};

describe('stacks and clients in the config', () => {
  it("defaults to today's set-ups; --quick measures the idea's and the fastest", () => {
    const plain = resolveConfig({});
    expect([plain.httpStacks, plain.httpClients, plain.grpcServers, plain.grpcClients]).toEqual([['gunicorn-sync', 'gunicorn-gthread'], ['undici'], ['thread'], ['grpc-js']]);
    const quick = resolveConfig({ quick: true });
    expect([quick.httpStacks, quick.httpClients, quick.grpcServers, quick.grpcClients]).toEqual([['gunicorn-gthread', 'lean'], ['undici', 'lean'], ['thread', 'aio-uvloop'], ['grpc-js', 'lean-http2']]);
  });

  it('reads --http-setups as the old spelling of the gunicorn stacks, and refuses it beside --http-stacks', () => {
    const config = resolveConfig({ httpSetups: ['sync'] });
    expect(config.httpStacks).toEqual(['gunicorn-sync']);
    expect('httpSetups' in config).toBe(false);
    expect(usage({ httpSetups: ['sync'], httpStacks: ['lean'] })).toMatch(/^USAGE: Expected `--http-setups` or `--http-stacks`, got both/);
    expect(usage({ httpSetups: ['gthred'] as never })).toContain('Did you mean `gthread`?');
  });

  it.each([
    [{ httpStacks: ['uvicon'] }, '--http-stacks', 'uvicorn'],
    [{ httpClients: ['nodehttp'] }, '--http-clients', 'node-http'],
    [{ grpcServers: ['aio-uvlop'] }, '--grpc-servers', 'aio-uvloop'],
    [{ grpcClients: ['lean'] }, '--grpc-clients', 'lean-http2'],
  ])('refuses %o naming the nearest value', (options, flag, near) => {
    const message = usage(options as BenchOptions);
    expect(message).toMatch(new RegExp(`^USAGE: Expected \`${flag}\` to be one of `));
    expect(message).toContain(`Did you mean \`${near}\`?`);
  });

  it('parses the four flags as lists', async () => {
    const { options } = await parseRunFlags(['--http-stacks', 'uvicorn,lean', '--http-clients', 'fetch', '--grpc-servers', 'aio', '--grpc-clients', 'lean-http2,grpc-js', '--http-setups', 'gthread']);
    expect(options).toMatchObject({ httpStacks: ['uvicorn', 'lean'], httpClients: ['fetch'], grpcServers: ['aio'], grpcClients: ['lean-http2', 'grpc-js'], httpSetups: ['gthread'] });
  });
});

describe('stacks and clients in the results', () => {
  const key: CellKey = { suite: 'echo', scenario: 'single-stream', transport: 'http-json', family: 'unix', httpStack: 'uvicorn', httpClient: 'fetch', payloadBytes: 3072, concurrency: 1 };
  const grpc: CellKey = { suite: 'echo', scenario: 'single-stream', transport: 'grpc', family: 'unix', grpcServer: 'aio-uvloop', grpcClient: 'lean-http2', payloadBytes: 3072, concurrency: 1 };

  it('names the server and the client in the id, the legend and the CSV', () => {
    expect(cellId(key)).toBe('echo/single-stream/http-json/unix/http=uvicorn/client=fetch/payload=3072/c=1');
    expect(seriesName(key)).toBe('http-json (uvicorn, fetch)');
    expect(cellId(grpc)).toBe('echo/single-stream/grpc/unix/grpc=aio-uvloop/client=lean-http2/payload=3072/c=1');
    expect(seriesName(grpc)).toBe('grpc (aio-uvloop, lean-http2)');
    const row = cellRow({ ...key, id: cellId(key), status: 'ok', requests: 1, errors: 0, errorsByCode: {}, durationMs: 1, metrics: {} } as CellResult);
    expect([row.http_stack, row.http_client, row.grpc_server, row.grpc_client]).toEqual(['uvicorn', 'fetch', undefined, undefined]);
    expect(seriesName({ transport: 'http-json', httpSetup: 'gthread' })).toBe('http-json (gthread)'); // results from before
  });

  it('plans a sidecar per server and an arm per client on it, for echo and cifar alike', async () => {
    const base: BenchOptions = { transports: ['http-json', 'grpc'], families: ['unix'], scenarios: ['single-stream'], payloadBytes: [3072], calibration: false };
    const options: BenchOptions = { ...base, httpStacks: ['gunicorn-gthread', 'lean'], httpClients: ['undici', 'fetch', 'node-http'], grpcServers: ['thread', 'aio-uvloop'], grpcClients: ['grpc-js', 'lean-http2'] };
    const [echo] = await planRun(resolveConfig({ ...options, suites: ['echo'] }));
    expect(echo?.cells).toBe(2 * 3 + 2 * 2);
    const [cifar] = await planRun(resolveConfig({ ...options, suites: ['cifar'], limit: 20 }));
    expect(cifar?.cells).toBe(2 * 3 + 2 * 2 + 1); // + the model in-process
  });
});
