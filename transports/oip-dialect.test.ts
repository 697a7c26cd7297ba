/**
 * Dialect `oip`: any Open Inference Protocol server. Against our sidecar (real): readiness the
 * protocol's way, infer and metadata through its routes only, every other op UNSUPPORTED_OP.
 * Against a minimal fake REST server (no Triton here): that readiness is `GET /v2/health/ready`
 * and not `/healthz`, and that the model's name comes from the repository index when not given.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, stopAllSidecars, type Sidecar } from '../harness/sidecar.js';
import { codeOf } from '../harness/testing.js';
import { createGrpcTransport } from './grpc.js';
import { createHttpJsonTransport } from './http-json.js';
import { makeTensor } from './tensors.js';
import type { Address } from './address.js';
import type { Transport, TransportOptions } from './types.js';

const TABULAR = 'examples/tabular_mlp.py:TabularMLP';
const features = makeTensor('features', 'FP32', [1, 32], new Array<number>(32).fill(0.5));
const options = (address: Address, extra: Partial<TransportOptions> = {}): TransportOptions => ({ address, timeoutMs: 20_000, maxFrameBytes: 1 << 26, dialect: 'oip', ...extra });

afterAll(stopAllSidecars);

async function refusesOurOps(client: Transport): Promise<void> {
  expect(await codeOf(client.echo(Uint8Array.of(1)))).toBe('UNSUPPORTED_OP');
  expect(await codeOf(client.classify(new Uint8Array(3072)))).toBe('UNSUPPORTED_OP');
  expect(await codeOf(client.generate({ prompt: 'hi' }))).toBe('UNSUPPORTED_OP');
  expect(await codeOf(client.generateStream({ prompt: 'hi' }, () => undefined))).toBe('UNSUPPORTED_OP');
}

describe.each(['http-json', 'grpc'] as const)('dialect oip against our %s sidecar', (transport) => {
  let sidecar: Sidecar;
  beforeAll(async () => {
    sidecar = await startSidecar({ model: TABULAR, transport, family: 'unix' });
  }, 60_000);
  afterAll(() => sidecar?.stop());

  it('infers and gives metadata through the protocol only, and refuses our own ops', async () => {
    const create = transport === 'grpc' ? createGrpcTransport : createHttpJsonTransport;
    const client = await create(options(sidecar.address, { modelName: 'tabular-mlp' }));
    try {
      expect((await client.metadata()).inputs).toEqual([{ name: 'features', datatype: 'FP32', shape: [-1, 32] }]);
      expect((await client.infer([features])).outputs.map((o) => o.name)).toEqual(['probabilities', 'label']);
      await refusesOurOps(client);
    } finally {
      await client.close();
    }
  });

  it('without a model name: USAGE (our sidecar has no repository index; gRPC has no way to ask)', async () => {
    const create = transport === 'grpc' ? createGrpcTransport : createHttpJsonTransport;
    const client = await create(options(sidecar.address));
    try {
      expect(await codeOf(client.infer([features]))).toBe('USAGE');
      expect(await codeOf(client.metadata())).toBe('USAGE');
    } finally {
      await client.close();
    }
  });
});

/** A fake OIP REST server: `ready` decides /v2/health/ready, /healthz is always 200, and one model `m`. */
function fakeServer(ready: boolean): Promise<{ address: Address; paths: string[]; close: () => Promise<void> }> {
  const paths: string[] = [];
  const server = http.createServer((request, response) => {
    paths.push(`${request.method} ${request.url}`);
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    request.resume();
    request.on('end', () => {
      if (request.url === '/healthz') send(200, { status: 'ok', model: 'not-this-one' });
      else if (request.url === '/v2/health/ready') send(ready ? 200 : 503, {});
      else if (request.url === '/v2/repository/index') send(200, [{ name: 'm', version: '1', state: 'READY' }]);
      else if (request.url === '/v2/models/m') send(200, { name: 'm', versions: ['1'], platform: 'fake', inputs: [{ name: 'x', datatype: 'INT32', shape: [-1] }], outputs: [] });
      else send(404, { error: `no route ${request.url}` });
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ address: { family: 'tcp', host: '127.0.0.1', port }, paths, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

describe('dialect oip against a fake REST server', () => {
  it('checks readiness with GET /v2/health/ready, not /healthz', async () => {
    const notReady = await fakeServer(false);
    try {
      expect(await codeOf(createHttpJsonTransport(options(notReady.address, { healthPath: '/healthz' })))).toBe('OVERLOADED'); // HTTP 503: not ready yet
      expect(notReady.paths).toEqual(['GET /v2/health/ready']);
    } finally {
      await notReady.close();
    }
  });

  it("takes the model's name from the repository index, once", async () => {
    const server = await fakeServer(true);
    const client = await createHttpJsonTransport(options(server.address));
    try {
      expect((await client.metadata()).name).toBe('m');
      expect((await client.metadata()).platform).toBe('fake');
      expect(server.paths).toEqual(['GET /v2/health/ready', 'POST /v2/repository/index', 'GET /v2/models/m', 'GET /v2/models/m']);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
