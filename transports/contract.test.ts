/**
 * The contract every transport keeps, over both socket families, against real sidecars:
 * echo fidelity, several requests in flight, stable error codes, and no hang when the sidecar
 * stalls or dies mid-request. http-json runs on every server stack through undici, and through
 * every other client on the lean and gunicorn-gthread stacks (one family each); grpc runs on
 * every server through both clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, stopAllSidecars, type Sidecar } from '../harness/sidecar.js';
import { FAMILIES, type Family } from './address.js';
import { loadTransport } from './registry.js';
import {
  GRPC_CLIENTS,
  GRPC_SERVERS,
  HTTP_CLIENTS,
  HTTP_STACKS,
  TRANSPORT_NAMES,
  type GrpcClientName,
  type GrpcServer,
  type HttpClientName,
  type HttpStack,
  type Transport,
  type TransportName,
} from './types.js';
import { codeOf } from '../harness/testing.js';

interface Target {
  readonly transport: TransportName;
  readonly family: Family;
  /** The server stack or server and the client library, for http-json and grpc. */
  readonly server?: HttpStack | GrpcServer;
  readonly client?: HttpClientName | GrpcClientName;
}

function targetsOf(transport: TransportName, family: Family, i: number): Target[] {
  if (transport === 'http-json') {
    const stacks = HTTP_STACKS.map((server): Target => ({ transport, family, server, client: 'undici' }));
    const others = HTTP_CLIENTS.filter((c) => c !== 'undici').map((client, j): Target => ({ transport, family, server: (i + j) % 2 === 0 ? 'lean' : 'gunicorn-gthread', client }));
    return [...stacks, ...others];
  }
  if (transport === 'grpc') return GRPC_SERVERS.flatMap((server) => GRPC_CLIENTS.map((client): Target => ({ transport, family, server, client })));
  return [{ transport, family }];
}

const targets: Target[] = TRANSPORT_NAMES.flatMap((transport) => FAMILIES.flatMap((family, i) => targetsOf(transport, family, i)));

const label = (t: Target): string => `${t.transport}${t.server === undefined ? '' : ` (${t.server}, ${t.client})`} over ${t.family}`;
const sidecarArgs = (t: Target, extra: string[] = []): string[] => {
  const server = t.server === undefined ? [] : t.transport === 'grpc' ? ['--grpc-server', t.server] : ['--http-stack', t.server];
  return [...server, ...extra];
};

async function client(target: Target, sidecar: Sidecar, timeoutMs = 10_000): Promise<Transport> {
  const factory = await loadTransport(target.transport);
  const library = target.client === undefined ? {} : target.transport === 'grpc' ? { grpcClient: target.client as GrpcClientName } : { httpClient: target.client as HttpClientName };
  return factory({ address: sidecar.address, timeoutMs, maxFrameBytes: 64 * 1024 * 1024, healthPath: '/healthz', ...library }); // http-json: our sidecar's
}

afterAll(stopAllSidecars);

describe.each(targets.map((t) => [label(t), t] as const))('%s', (_label, target) => {
  let sidecar: Sidecar;
  let transport: Transport;

  beforeAll(async () => {
    sidecar = await startSidecar({ model: 'echo', transport: target.transport, family: target.family, args: sidecarArgs(target) });
    transport = await client(target, sidecar);
  }, 60_000);

  afterAll(async () => {
    await transport?.close();
    await sidecar?.stop();
  });

  it.each([0, 1, 64, 3072, 65_536, 1_048_576])(`${label(target)} echoes %i bytes exactly`, async (size) => {
    const payload = Uint8Array.from({ length: size }, (_, i) => (i * 131 + size) & 0xff);
    expect(Buffer.from(await transport.echo(payload)).equals(Buffer.from(payload))).toBe(true);
  });

  it('echoes all 256 byte values', async () => {
    const payload = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect([...(await transport.echo(payload))]).toEqual([...payload]);
  });

  it('answers several requests in flight, each with its own payload', async () => {
    const payloads = Array.from({ length: 32 }, (_, i) => Uint8Array.from({ length: i * 97 }, (_, j) => (j + i) & 0xff));
    const replies = await Promise.all(payloads.map((p) => transport.echo(p)));
    replies.forEach((reply, i) => expect([...reply]).toEqual([...(payloads[i] as Uint8Array)]));
  });

  it('reports an operation the model lacks as UNSUPPORTED_OP and keeps serving', async () => {
    expect(await codeOf(transport.classify(new Uint8Array(3072)))).toBe('UNSUPPORTED_OP');
    expect(await codeOf(transport.generate({ prompt: 'hi', samplingSteps: 4 }))).toBe('UNSUPPORTED_OP');
    expect((await transport.echo(Uint8Array.of(1, 2, 3))).length).toBe(3);
  });

  it('gives TIMEOUT, not a hang, when the sidecar stalls', async () => {
    const stalled = await startSidecar({ model: 'echo', transport: target.transport, family: target.family, args: sidecarArgs(target, ['--stall-ms', '3000']) });
    const slow = await client(target, stalled, 300);
    try {
      const started = performance.now();
      expect(await codeOf(slow.echo(Uint8Array.of(1)))).toBe('TIMEOUT');
      expect(performance.now() - started).toBeLessThan(2500);
    } finally {
      await slow.close();
      await stalled.stop(1000);
    }
  }, 30_000);

  it('gives SIDECAR_CLOSED, not a hang, when the sidecar dies mid-request', async () => {
    const doomed = await startSidecar({ model: 'echo', transport: target.transport, family: target.family, args: sidecarArgs(target, ['--stall-ms', '3000']) });
    const c = await client(target, doomed, 20_000);
    try {
      const pending = codeOf(c.echo(Uint8Array.of(1)));
      await new Promise((r) => setTimeout(r, 200));
      doomed.kill();
      expect(['SIDECAR_CLOSED', 'CONNECT_FAILED']).toContain(await pending);
      await doomed.exited;
      expect(doomed.hasExited()).toBe(true);
    } finally {
      await c.close().catch(() => undefined);
      await doomed.stop();
    }
  }, 30_000);
});
