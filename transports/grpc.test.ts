/**
 * The grpc transport against real sidecars: every server (thread, aio, aio-uvloop) over both
 * families, through both clients (grpc-js, lean-http2: each case once per client, on the same
 * sidecar), error mapping, and every bad input (after each, a new connection must still be served).
 * A fake core that classifies and generates (streamed) covers what the echo model cannot.
 * Longer than the house's 250 lines because each group shares its live sidecars across clients.
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarPython } from '../harness/paths.js';
import { startSidecar, stopAllSidecars, type Sidecar } from '../harness/sidecar.js';
import { FAMILIES, type Family } from './address.js';
import { channelOptions, createGrpcTransport, fromGrpcError, grpcTarget, loadMethods, waitForChannel } from './grpc.js';
import { loadOipMethods } from './oip-grpc.js';
import { makeTensor } from './tensors.js';
import { GRPC_CLIENTS, GRPC_SERVERS, type GrpcClientName, type Transport } from './types.js';
import { codeOf, fakeSidecarGenerationCases, fakeSidecarScript } from '../harness/testing.js';

const LIMIT = 256 * 1024;


const bytes = (size: number, seed = 0): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 131 + seed) & 0xff);
const connect = (on: Sidecar, grpcClient: GrpcClientName, timeoutMs = 10_000, maxFrameBytes = 64 * 1024 * 1024): Promise<Transport> =>
  createGrpcTransport({ address: on.address, timeoutMs, maxFrameBytes, grpcClient, modelName: 'echo' });

// A core that classifies and generates, served by the real front-end (the server named first, the address last).
const FAKE_SIDECAR = fakeSidecarScript('grpc_server', 'grpc', 'grpc_server');

/** One unary call with raw bytes both ways, on a client of its own: for what the transport never sends. */
async function rawCall(on: Sidecar, method: string, body: Uint8Array, maxFrameBytes = 64 * 1024 * 1024): Promise<string> {
  const client = new grpc.Client(grpcTarget(on.address), grpc.credentials.createInsecure(), channelOptions(maxFrameBytes));
  try {
    await waitForChannel(client.getChannel(), 5000);
    return await new Promise<string>((resolve) => {
      const identity = (b: Buffer): Buffer => b;
      client.makeUnaryRequest(`/sidecar.v1.Sidecar/${method}`, identity, identity, Buffer.from(body), { deadline: Date.now() + 5000 }, (error) =>
        resolve(error === null ? 'no error' : `${grpc.status[error.code]}/${fromGrpcError(error).code}`),
      );
    });
  } finally {
    client.close();
  }
}

/** Write `wire` on a plain socket to the sidecar, then hang up. */
function rawSocket(on: Sidecar, wire: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const a = on.address;
    const socket = a.family === 'unix' ? net.createConnection(a.path) : net.createConnection(a.port, a.host);
    socket.on('error', () => resolve());
    socket.write(wire, () => setTimeout(() => socket.destroy(), 50));
    socket.on('close', () => resolve());
  });
}

afterAll(stopAllSidecars);

const targets = GRPC_SERVERS.flatMap((server) => FAMILIES.map((family: Family) => ({ family, server })));

describe.each(targets)('grpc sidecar ($server server) over $family', ({ family, server }) => {
  let sidecar: Sidecar;
  const args = ['--grpc-server', server];
  const stillServes = async (): Promise<void> => {
    const fresh = await connect(sidecar, 'grpc-js');
    expect([...(await fresh.echo(Uint8Array.of(4, 5, 6)))]).toEqual([4, 5, 6]);
    await fresh.close();
  };

  beforeAll(async () => {
    sidecar = await startSidecar({ model: 'echo', transport: 'grpc', family, args: [...args, '--max-frame-bytes', String(LIMIT)] });
  }, 60_000);

  afterAll(async () => {
    await sidecar?.stop();
  });

  describe.each(GRPC_CLIENTS)('through %s', (client) => {
    let transport: Transport;
    beforeAll(async () => {
      transport = await connect(sidecar, client, 10_000, LIMIT);
    });
    afterAll(async () => {
      await transport?.close();
    });

    it.each([0, 1, 3072, LIMIT - 16])('echoes %i bytes exactly', async (size) => {
      const payload = bytes(size, 3);
      expect(Buffer.from(await transport.echo(payload)).equals(Buffer.from(payload))).toBe(true);
    });

    it('echoes 1 MiB on a sidecar whose limit allows it', async () => {
      const big = await startSidecar({ model: 'echo', transport: 'grpc', family, args });
      const c = await connect(big, client);
      try {
        const payload = bytes(1_048_576, 5);
        expect(Buffer.from(await c.echo(payload)).equals(Buffer.from(payload))).toBe(true);
      } finally {
        await c.close();
        await big.stop();
      }
    }, 30_000);

    it('reports what the echo model lacks as UNSUPPORTED_OP, bad images as BAD_INPUT', async () => {
      expect(await codeOf(transport.classify(new Uint8Array(3072)))).toBe('UNSUPPORTED_OP');
      expect(await codeOf(transport.classify(new Uint8Array(3 * 3072)))).toBe('UNSUPPORTED_OP');
      expect(await codeOf(transport.classify(new Uint8Array(3071)))).toBe('BAD_INPUT');
      expect(await codeOf(transport.classify(new Uint8Array(0)))).toBe('BAD_INPUT');
      expect(await codeOf(transport.generate({ prompt: 'hi', samplingSteps: 4, temperature: 0, topK: 3, topP: 0.9, seed: 1 }))).toBe('UNSUPPORTED_OP');
      expect(await codeOf(transport.generate({ prompt: 'hi', topK: -1 }))).toBe('BAD_INPUT');
      expect(await codeOf(transport.generateStream({ prompt: 'hi' }, () => undefined))).toBe('UNSUPPORTED_OP');
      expect((await transport.echo(Uint8Array.of(1, 2, 3))).length).toBe(3);
    });

    it('gives the metadata and infers through inference.GRPCInferenceService', async () => {
      // proto3 leaves the empty `versions` list off the wire.
      expect(await transport.metadata()).toEqual({ ...(sidecar.ready['metadata'] as object), versions: undefined });
      const payload = makeTensor('payload', 'UINT8', [4], [0, 9, 128, 255]);
      const reply = await transport.infer([payload]);
      expect(reply.outputs.map((t) => [t.name, t.datatype, t.shape, [...t.data]])).toEqual([['payload', 'UINT8', [4], [0, 9, 128, 255]]]);
      expect(await codeOf(transport.infer([makeTensor('payload', 'FP32', [1], [1])]))).toBe('BAD_INPUT');
    });

    // Echo fidelity, requests in flight, stalled and killed sidecars: transports/contract.test.ts
    // covers them for every transport and family.

    it('fails at connect time with CONNECT_FAILED when nothing listens', async () => {
      const gone = await startSidecar({ model: 'echo', transport: 'grpc', family, args });
      await gone.stop();
      const started = performance.now();
      expect(await codeOf(connect(gone, client, 5000))).toBe('CONNECT_FAILED');
      expect(performance.now() - started).toBeLessThan(3000);
    }, 30_000);

    it('fails a request over the client limit with FRAME_TOO_LARGE', async () => {
      const small = await connect(sidecar, client, 10_000, 1024);
      expect(await codeOf(small.echo(bytes(2000)))).toBe('FRAME_TOO_LARGE');
      await small.close();
      await stillServes();
    });

    it('survives a disconnect mid-request', async () => {
      const c = await connect(sidecar, client);
      const pending = codeOf(c.echo(bytes(LIMIT - 16)));
      await c.close();
      expect(await pending).toBe('SIDECAR_CLOSED');
      await stillServes();
    });
  });

  it.each([
    ['an unknown method', 'Nope', new Uint8Array(0), 'UNIMPLEMENTED/UNKNOWN_TYPE'],
    ['a message over the size limit', 'Echo', bytes(LIMIT + 10), 'RESOURCE_EXHAUSTED/FRAME_TOO_LARGE'],
    ['bytes that are no EchoRequest', 'Echo', Uint8Array.of(0xff, 0xff, 0xff), 'INVALID_ARGUMENT/BAD_INPUT'],
    ['Classify with 3071 bytes', 'Classify', Uint8Array.of(0x0a, 0xff, 0x17, ...new Uint8Array(3071)), 'INVALID_ARGUMENT/BAD_INPUT'],
    ['ClassifyBatch with 3073 bytes', 'ClassifyBatch', Uint8Array.of(0x0a, 0x81, 0x18, ...new Uint8Array(3073)), 'INVALID_ARGUMENT/BAD_INPUT'],
    ['Generate with no prompt field', 'Generate', new Uint8Array(0), 'UNIMPLEMENTED/UNSUPPORTED_OP'],
  ])('answers %s with a status, then serves a new connection', async (_case, method, body, expected) => {
    expect(await rawCall(sidecar, method, body)).toBe(expected);
    await stillServes();
  });

  it.each([
    ['garbage bytes instead of HTTP/2', Buffer.from(bytes(300, 9))],
    ['the HTTP/2 preface then a truncated frame', Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 6, 4, 0])])],
    ['the HTTP/2 preface then garbage frames', Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from(bytes(200, 1))])],
  ])('survives %s on the socket', async (_case, wire) => {
    await rawSocket(sidecar, wire);
    await stillServes();
  });
});

describe.each(FAMILIES.map((family, i) => [family, GRPC_SERVERS[i % GRPC_SERVERS.length] ?? 'thread'] as const))('grpc over %s (%s server) with a model that classifies and generates', (family, server) => {
  let peer: Sidecar;

  beforeAll(async () => {
    peer = await startSidecar({ model: 'fake', transport: 'grpc', family, program: sidecarPython(), args: ['-c', FAKE_SIDECAR, server] });
  }, 60_000);

  afterAll(async () => {
    await peer?.stop();
  });

  describe.each(GRPC_CLIENTS)('through %s', (client) => {
    let transport: Transport;
    beforeAll(async () => {
      transport = await connect(peer, client);
    });
    afterAll(async () => {
      await transport?.close();
    });

    it('classifies one image and a batch', async () => {
      const images = new Uint8Array(2 * 3072);
      images[0] = 3;
      images[3072] = 17;
      const one = await transport.classify(images.subarray(0, 3072));
      expect([[...one.labels], one.computeNs]).toEqual([[3], 1234]);
      const two = await transport.classify(images);
      expect([[...two.labels], two.computeNs]).toEqual([[3, 7], 1234]);
    });

    fakeSidecarGenerationCases(() => transport);
  });
});

describe('grpc proto', () => {
  it('loads every method of sidecar.v1.Sidecar', () => {
    const methods = loadMethods();
    expect(Object.keys(methods).sort()).toEqual(['Classify', 'ClassifyBatch', 'Echo', 'Generate', 'GenerateStream']);
    expect(methods.GenerateStream.responseStream).toBe(true);
    expect(methods.Echo.path).toBe('/sidecar.v1.Sidecar/Echo');
  });

  it('loads the methods it uses of inference.GRPCInferenceService', () => {
    const methods = loadOipMethods();
    expect(methods.ModelInfer.path).toBe('/inference.GRPCInferenceService/ModelInfer');
    expect(methods.ModelMetadata.path).toBe('/inference.GRPCInferenceService/ModelMetadata');
    expect(methods.ServerReady.path).toBe('/inference.GRPCInferenceService/ServerReady');
  });

  it('maps statuses without a sidecar code', () => {
    const status = (code: grpc.status, details = 'x'): string => fromGrpcError(Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() })).code;
    expect(status(grpc.status.DEADLINE_EXCEEDED)).toBe('TIMEOUT');
    expect(status(grpc.status.UNAVAILABLE)).toBe('SIDECAR_CLOSED');
    expect(status(grpc.status.RESOURCE_EXHAUSTED, 'Received message larger than max (70000000 vs. 67108864)')).toBe('FRAME_TOO_LARGE');
    expect(status(grpc.status.RESOURCE_EXHAUSTED, 'Concurrent RPC limit exceeded!')).toBe('OVERLOADED');
    expect(status(grpc.status.UNKNOWN)).toBe('PROTOCOL_ERROR');
    expect(status(grpc.status.NOT_FOUND)).toBe('UNKNOWN_TYPE'); // an OIP server's unknown model, as HTTP 404
    const metadata = new grpc.Metadata();
    metadata.set('sidecar-error-code', 'MODEL_ERROR');
    expect(fromGrpcError(Object.assign(new Error('x'), { code: grpc.status.INTERNAL, details: 'x', metadata })).code).toBe('MODEL_ERROR');
  });
});
