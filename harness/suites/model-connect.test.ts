/**
 * `run --suite model --connect`: a server the harness did not start, over the Open Inference
 * Protocol only. Our own sidecar started by hand (real, http-json and grpc), and a minimal fake
 * REST server that has nothing but `/v2` routes (no Triton here), which records every request so
 * the test can see that nothing of ours was sent. No model file, so no baseline and no overhead.
 */
import http from 'node:http';
import { mkdtemp, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { formatAddress } from '../../transports/address.js';
import { REPO_ROOT } from '../paths.js';
import type { RunResult } from '../results.js';
import { startSidecar, stopAllSidecars } from '../sidecar.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');
const SMALL = ['--limit', '8', '--min-rounds', '4', '--warmup', '2', '--no-calibration'];

afterAll(stopAllSidecars);

async function run(args: string[]): Promise<{ exitCode: number | undefined; output: string; result: () => Promise<RunResult> }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-model-connect-'));
  const child = await execa('node', [BIN, 'run', '--suite', 'model', ...args, ...SMALL, '--out', out], { reject: false, cwd: REPO_ROOT });
  return { exitCode: child.exitCode, output: `${child.stdout}\n${child.stderr}`, result: async () => JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as RunResult };
}

/** The run measured one cell per size on `transport`, with no overhead, and said why. */
function expectConnectedCells(result: RunResult, transport: string, sizes: (number | undefined)[]): void {
  expect(result.status).toBe('ok');
  const cells = result.cells.filter((c) => c.suite === 'model');
  expect(cells.map((c) => c.payloadBytes)).toEqual(sizes);
  for (const cell of cells) {
    expect(cell.status, cell.error?.message).toBe('ok');
    expect(cell.transport).toBe(transport);
    expect(cell.connect).toBeDefined();
    expect(cell.overhead).toBeUndefined();
    expect(cell.floor).toBeUndefined();
  }
  const overhead = result.checks.find((c) => c.name === 'model: overhead');
  expect(overhead?.detail).toMatch(/^skipped: --connect .* no model file to call in-process, so there is no baseline/);
}

describe.each(['http-json', 'grpc'] as const)('run --suite model --connect to our %s sidecar started by hand', (transport) => {
  it('measures it over the Open Inference Protocol for the model --model-name names', async () => {
    const sidecar = await startSidecar({ model: 'examples/tabular_mlp.py:TabularMLP', transport, family: 'tcp' });
    try {
      const at = formatAddress(sidecar.address);
      const named = await run(['--connect', at, '--model-name', 'tabular-mlp']);
      expect(named.exitCode, named.output).toBe(0);
      const result = await named.result();
      expectConnectedCells(result, transport, [undefined]);
      expect(result.checks.find((c) => c.name === 'model: metadata')?.detail).toContain(`(from ${transport} metadata())`);
      // Our sidecar has no repository index, and gRPC's service cannot list models: the run says to name it.
      const unnamed = await run(['--connect', at, '--transports', transport]);
      expect(unnamed.exitCode, unnamed.output).toBe(2);
      expect(unnamed.output).toContain('name the model with `--model-name NAME`');
      const wrong = await run(['--connect', at, '--transports', transport, '--model-name', 'no-such-model']);
      expect(wrong.exitCode, wrong.output).not.toBe(0);
    } finally {
      await sidecar.stop();
    }
  }, 180_000);
});

/** A fake OIP REST server: /v2 routes only, one model `m` (`x` INT32 [-1] in, `y` the same out); JSON replies. */
function fakeOipServer(): Promise<{ at: string; requests: string[]; shapes: number[][]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const shapes: number[][] = [];
  const server = http.createServer((request, response) => {
    requests.push(`${request.method} ${request.url}`);
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      if (request.url === '/v2/health/ready' || request.url === '/v2/health/live') return send(200, {});
      if (request.url === '/v2/repository/index') return send(200, [{ name: 'm', version: '1', state: 'READY' }]);
      if (request.url === '/v2/models/m') return send(200, { name: 'm', versions: ['1'], platform: 'fake', inputs: [{ name: 'x', datatype: 'INT32', shape: [-1] }], outputs: [{ name: 'y', datatype: 'INT32', shape: [-1] }] });
      if (request.url === '/v2/models/m/infer' && request.method === 'POST') {
        const headerLength = Number(request.headers['inference-header-content-length'] ?? body.length);
        const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as { inputs: { shape: number[]; data?: number[] }[] };
        const input = header.inputs[0] as { shape: number[]; data?: number[] };
        const raw = body.subarray(headerLength);
        const data = input.data ?? Array.from({ length: raw.length / 4 }, (_, i) => raw.readInt32LE(i * 4));
        shapes.push(input.shape);
        return send(200, { model_name: 'm', outputs: [{ name: 'y', datatype: 'INT32', shape: input.shape, data }] });
      }
      return send(404, { error: `no route ${request.method} ${request.url}` });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ at: `tcp:127.0.0.1:${port}`, requests, shapes, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

describe('run --suite model --connect to a server that has only the Open Inference Protocol', () => {
  it("finds the model in the repository index, sizes its requests, and sends nothing but the protocol's routes", async () => {
    const server = await fakeOipServer();
    try {
      const { exitCode, output, result } = await run(['--connect', server.at, '--transports', 'http-json', '--tensor-bytes', '64,4KiB']);
      expect(exitCode, output).toBe(0);
      expectConnectedCells(await result(), 'http-json', [64, 4096]);
      expect(server.requests.filter((r) => !r.startsWith('GET /v2/') && !r.startsWith('POST /v2/'))).toEqual([]);
      expect(server.requests).toContain('POST /v2/repository/index');
      expect(new Set(server.shapes.map((s) => JSON.stringify(s)))).toEqual(new Set(['[16]', '[1024]']));
    } finally {
      await server.close();
    }
  }, 120_000);
});
