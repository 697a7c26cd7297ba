/**
 * The grpc transport against real sidecars: both servers (thread, aio) over both families,
 * error mapping, and every bad input (after each, a new connection must still be served).
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, stopAllSidecars, type Sidecar } from '../harness/sidecar.js';
import { FAMILIES, type Family } from './address.js';
import { channelOptions, createGrpcTransport, fromGrpcError, grpcTarget, loadMethods, waitForChannel } from './grpc.js';
import type { Transport } from './types.js';
import { codeOf } from '../harness/testing.js';

const LIMIT = 256 * 1024;


const bytes = (size: number, seed = 0): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 131 + seed) & 0xff);
const connect = (on: Sidecar, timeoutMs = 10_000, maxFrameBytes = 64 * 1024 * 1024): Promise<Transport> =>
  createGrpcTransport({ address: on.address, timeoutMs, maxFrameBytes });

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

const targets: { family: Family; server: 'aio' | 'thread' }[] = (['thread', 'aio'] as const).flatMap((server) => FAMILIES.map((family) => ({ family, server })));

describe.each(targets)('grpc sidecar ($server server) over $family', ({ family, server }) => {
  let sidecar: Sidecar;
  let transport: Transport;
  const args = ['--grpc-server', server];
  const stillServes = async (): Promise<void> => {
    const fresh = await connect(sidecar);
    expect([...(await fresh.echo(Uint8Array.of(4, 5, 6)))]).toEqual([4, 5, 6]);
    await fresh.close();
  };

  beforeAll(async () => {
    sidecar = await startSidecar({ model: 'echo', transport: 'grpc', family, args: [...args, '--max-frame-bytes', String(LIMIT)] });
    transport = await connect(sidecar, 10_000, LIMIT);
  }, 60_000);

  afterAll(async () => {
    await transport?.close();
    await sidecar?.stop();
  });

  it.each([0, 1, 3072, LIMIT - 16])('echoes %i bytes exactly', async (size) => {
    const payload = bytes(size, 3);
    expect(Buffer.from(await transport.echo(payload)).equals(Buffer.from(payload))).toBe(true);
  });

  it('echoes 1 MiB on a sidecar whose limit allows it', async () => {
    const big = await startSidecar({ model: 'echo', transport: 'grpc', family, args });
    const c = await connect(big);
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

  // Echo fidelity, requests in flight, stalled and killed sidecars: transports/contract.test.ts
  // covers them for every transport and family.

  it('fails at connect time with CONNECT_FAILED when nothing listens', async () => {
    const gone = await startSidecar({ model: 'echo', transport: 'grpc', family, args });
    await gone.stop();
    const started = performance.now();
    expect(await codeOf(connect(gone, 5000))).toBe('CONNECT_FAILED');
    expect(performance.now() - started).toBeLessThan(3000);
  }, 30_000);

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

  it('fails a reply over the client limit with FRAME_TOO_LARGE', async () => {
    const small = await connect(sidecar, 10_000, 1024);
    expect(await codeOf(small.echo(bytes(2000)))).toBe('FRAME_TOO_LARGE');
    await small.close();
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

  it('survives a disconnect mid-request', async () => {
    const c = await connect(sidecar);
    const pending = codeOf(c.echo(bytes(LIMIT - 16)));
    await c.close();
    expect(await pending).toBe('SIDECAR_CLOSED');
    await stillServes();
  });
});

describe('grpc proto', () => {
  it('loads every method of sidecar.v1.Sidecar', () => {
    const methods = loadMethods();
    expect(Object.keys(methods).sort()).toEqual(['Classify', 'ClassifyBatch', 'Echo', 'Generate', 'GenerateStream']);
    expect(methods.GenerateStream.responseStream).toBe(true);
    expect(methods.Echo.path).toBe('/sidecar.v1.Sidecar/Echo');
  });

  it('maps statuses without a sidecar code', () => {
    const status = (code: grpc.status, details = 'x'): string => fromGrpcError(Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() })).code;
    expect(status(grpc.status.DEADLINE_EXCEEDED)).toBe('TIMEOUT');
    expect(status(grpc.status.UNAVAILABLE)).toBe('SIDECAR_CLOSED');
    expect(status(grpc.status.RESOURCE_EXHAUSTED, 'Received message larger than max (70000000 vs. 67108864)')).toBe('FRAME_TOO_LARGE');
    expect(status(grpc.status.RESOURCE_EXHAUSTED, 'Concurrent RPC limit exceeded!')).toBe('OVERLOADED');
    expect(status(grpc.status.UNKNOWN)).toBe('PROTOCOL_ERROR');
    const metadata = new grpc.Metadata();
    metadata.set('sidecar-error-code', 'MODEL_ERROR');
    expect(fromGrpcError(Object.assign(new Error('x'), { code: grpc.status.INTERNAL, details: 'x', metadata })).code).toBe('MODEL_ERROR');
  });
});
