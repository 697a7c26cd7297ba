/**
 * The `grpc` wire (docs/protocol.md) through @grpc/grpc-js, one HTTP/2 connection per transport, or,
 * with `grpcClient: 'lean-http2'`, through our minimal client on node:http2 (grpc-lean.ts, loaded
 * only when chosen). The operations themselves live in grpc-ops.ts, the same for both clients.
 * A failed call's status maps back to a HarnessError code (grpc-status.ts): the sidecar's own
 * code from the trailing metadata when it sent one, otherwise one derived from the status.
 */
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HarnessError } from './errors.js';
import type { Address } from './address.js';
import { ERROR_CODE_KEY, type GrpcMethod } from './grpc-proto.js';
import { checkOipReady, grpcTransport, type GrpcCalls } from './grpc-ops.js';
import { codeForStatus } from './grpc-status.js';
import type { TransportFactory, TransportOptions } from './types.js';

export { ERROR_CODE_KEY, loadMethods, PROTO_PATH, SERVICE_NAME } from './grpc-proto.js';

type GrpcChannel = ReturnType<grpc.Client['getChannel']>;

/** `unix:/abs/path` or `host:port` (IPv6 hosts bracketed), as grpc-js parses targets. */
export function grpcTarget(address: Address): string {
  if (address.family === 'unix') return `unix:${path.resolve(address.path)}`;
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Channel options: message limits from maxFrameBytes, and a connection of this transport's own. */
export function channelOptions(maxFrameBytes: number): grpc.ChannelOptions {
  return {
    'grpc.max_send_message_length': maxFrameBytes,
    'grpc.max_receive_message_length': maxFrameBytes,
    // Channels with equal options would otherwise share one subchannel (one connection).
    'grpc.use_local_subchannel_pool': 1,
    // No transparent retries: a failed call is data, and retry buffering costs on every call.
    'grpc.enable_retries': 0,
  };
}

/** A failed grpc-js call as a HarnessError: the sidecar's code when it sent one, else the status's. */
export function fromGrpcError(error: unknown): HarnessError {
  if (error instanceof HarnessError) return error;
  const e = error as Partial<grpc.ServiceError>;
  const message = e.details ?? (error instanceof Error ? error.message : String(error));
  const code = codeForStatus(e.code, e.details ?? '', e.metadata?.get(ERROR_CODE_KEY)[0]);
  return new HarnessError(code, message, { cause: error, details: { grpcStatus: e.code } });
}

/** Resolve once the channel is READY; a refused or missing sidecar fails at once with CONNECT_FAILED. */
export async function waitForChannel(channel: GrpcChannel, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = channel.getConnectivityState(true);
    if (state === grpc.connectivityState.READY) return;
    if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
      throw new HarnessError('CONNECT_FAILED', `Could not connect to the gRPC sidecar at ${channel.getTarget()} (channel ${grpc.connectivityState[state]})`);
    }
    await new Promise<void>((resolve, reject) => {
      channel.watchConnectivityState(state, deadline, (error) => {
        if (error === undefined) resolve();
        else reject(new HarnessError('CONNECT_FAILED', `Expected the gRPC channel to ${channel.getTarget()} to be ready within ${timeoutMs} ms`, { cause: error }));
      });
    });
  }
}

/** grpc-js's calls on one channel; a ready channel, or CONNECT_FAILED. */
async function connectGrpcJs(options: TransportOptions): Promise<GrpcCalls> {
  const client = new grpc.Client(grpcTarget(options.address), grpc.credentials.createInsecure(), channelOptions(options.maxFrameBytes));
  try {
    await waitForChannel(client.getChannel(), options.timeoutMs);
  } catch (error) {
    client.close();
    throw error;
  }
  let closed = false;
  const refuseIfClosed = (): HarnessError | undefined => (closed ? new HarnessError('SIDECAR_CLOSED', 'The gRPC transport is closed') : undefined);
  // grpc-js deadlines are wall-clock times.
  const callOptions = (): grpc.CallOptions => ({ deadline: Date.now() + options.timeoutMs });
  return {
    unary: (method: GrpcMethod, argument) =>
      new Promise((resolve, reject) => {
        const refused = refuseIfClosed();
        if (refused !== undefined) return reject(refused);
        client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, argument, callOptions(), (error, reply) => {
          if (error !== null || reply === undefined) reject(fromGrpcError(error));
          else resolve(reply);
        });
      }),
    serverStream: (method, argument, onMessage) =>
      new Promise((resolve, reject) => {
        const refused = refuseIfClosed();
        if (refused !== undefined) return reject(refused);
        const call = client.makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, argument, callOptions());
        call.on('data', onMessage);
        call.on('error', (error) => reject(fromGrpcError(error)));
        call.on('end', () => resolve());
      }),
    close() {
      closed = true;
      client.close();
    },
  };
}

export const createGrpcTransport: TransportFactory = async (options: TransportOptions) => {
  const lean = options.grpcClient === 'lean-http2';
  const calls = lean ? await (await import('./grpc-lean.js')).connectLeanHttp2(options) : await connectGrpcJs(options);
  if (options.dialect === 'oip') {
    await checkOipReady(calls, grpcTarget(options.address)).catch((error: unknown) => {
      calls.close();
      throw error;
    });
  }
  return grpcTransport(calls, options);
};
