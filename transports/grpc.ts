/**
 * The `grpc` wire: service `sidecar.v1.Sidecar` (sidecars/proto/sidecar.proto, loaded at run time
 * with proto-loader, no generated code) over @grpc/grpc-js, one HTTP/2 connection per transport.
 * A failed call's status maps back to a HarnessError code: the sidecar's own code from the
 * trailing metadata when it sent one, otherwise one derived from the status (docs/protocol.md).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { HarnessError, type HarnessErrorCode, isHarnessErrorCode } from './errors.js';
import type { Address } from './address.js';
import { generateFields } from './framed.js';
import type { ClassifyReply, GenerateParams, GenerateReply, Transport, TransportFactory, TransportOptions } from './types.js';
import { toGenerateStats } from './types.js';

export const PROTO_PATH = fileURLToPath(new URL('../sidecars/proto/sidecar.proto', import.meta.url));
export const SERVICE_NAME = 'sidecar.v1.Sidecar';
export const ERROR_CODE_KEY = 'sidecar-error-code';

type Method = grpc.MethodDefinition<object, Record<string, unknown>>;
type Methods = Readonly<Record<'Echo' | 'Classify' | 'ClassifyBatch' | 'Generate' | 'GenerateStream', Method>>;

type GrpcChannel = ReturnType<grpc.Client['getChannel']>;

let methods: Methods | undefined;

/** The service's methods, parsed from the .proto once per process (snake_case fields, as on the wire). */
export function loadMethods(): Methods {
  if (methods !== undefined) return methods;
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: false });
  const service = definition[SERVICE_NAME] as grpc.ServiceDefinition | undefined;
  if (service === undefined) throw new HarnessError('SETUP_FAILED', `Expected service \`${SERVICE_NAME}\` in ${PROTO_PATH}`);
  methods = service as unknown as Methods;
  return methods;
}

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

const STATUS_CODES: Partial<Record<grpc.status, HarnessErrorCode>> = {
  [grpc.status.DEADLINE_EXCEEDED]: 'TIMEOUT',
  [grpc.status.UNAVAILABLE]: 'SIDECAR_CLOSED',
  [grpc.status.CANCELLED]: 'SIDECAR_CLOSED',
  [grpc.status.INVALID_ARGUMENT]: 'BAD_INPUT',
  [grpc.status.UNIMPLEMENTED]: 'UNKNOWN_TYPE',
  [grpc.status.RESOURCE_EXHAUSTED]: 'FRAME_TOO_LARGE',
  [grpc.status.INTERNAL]: 'INTERNAL',
};

/** A failed call as a HarnessError: the sidecar's code when it sent one, else the status's. */
export function fromGrpcError(error: unknown): HarnessError {
  if (error instanceof HarnessError) return error;
  const e = error as Partial<grpc.ServiceError>;
  const sent = e.metadata?.get(ERROR_CODE_KEY)[0];
  // gRPC's own RESOURCE_EXHAUSTED is a message over its size limit, or grpcio's cap on calls
  // (`maximum_concurrent_rpcs`: "Concurrent RPC limit exceeded!"), which is a refusal at a limit.
  const overLimit = e.code === grpc.status.RESOURCE_EXHAUSTED && /concurrent rpc limit/i.test(e.details ?? '');
  const fromStatus = e.code === undefined ? undefined : overLimit ? 'OVERLOADED' : STATUS_CODES[e.code];
  const code: HarnessErrorCode = isHarnessErrorCode(sent) ? sent : (fromStatus ?? 'PROTOCOL_ERROR');
  const message = e.details ?? (error instanceof Error ? error.message : String(error));
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

export const createGrpcTransport: TransportFactory = async (options: TransportOptions) => {
  const { Echo, Classify, ClassifyBatch, Generate, GenerateStream } = loadMethods();
  const client = new grpc.Client(grpcTarget(options.address), grpc.credentials.createInsecure(), channelOptions(options.maxFrameBytes));
  try {
    await waitForChannel(client.getChannel(), options.timeoutMs);
  } catch (error) {
    client.close();
    throw error;
  }
  let closed = false;

  function unary(method: Method, argument: object): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      if (closed) {
        reject(new HarnessError('SIDECAR_CLOSED', 'The gRPC transport is closed'));
        return;
      }
      const callOptions = { deadline: Date.now() + options.timeoutMs }; // grpc-js deadlines are wall-clock times
      client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, argument, callOptions, (error, reply) => {
        if (error !== null || reply === undefined) reject(fromGrpcError(error));
        else resolve(reply);
      });
    });
  }

  function generateStream(params: GenerateParams, onText: (text: string) => void): Promise<GenerateReply> {
    return new Promise((resolve, reject) => {
      if (closed) {
        reject(new HarnessError('SIDECAR_CLOSED', 'The gRPC transport is closed'));
        return;
      }
      const call = client.makeServerStreamRequest(GenerateStream.path, GenerateStream.requestSerialize, GenerateStream.responseDeserialize, generateFields(params), {
        deadline: Date.now() + options.timeoutMs,
      });
      let response = '';
      let final: GenerateReply | undefined;
      call.on('data', (chunk: Record<string, unknown>) => {
        const text = typeof chunk['text'] === 'string' ? chunk['text'] : '';
        if (text !== '') {
          response += text;
          onText(text);
        }
        if (chunk['done'] === true) final = { response, stats: toGenerateStats(chunk['stats']) };
      });
      call.on('error', (error) => reject(fromGrpcError(error)));
      call.on('end', () => {
        if (final !== undefined) resolve(final);
        else reject(new HarnessError('PROTOCOL_ERROR', 'Expected a final chunk with `done` before the stream ended'));
      });
    });
  }

  const transport: Transport = {
    name: 'grpc',
    async echo(payload) {
      return bytesField(await unary(Echo, { payload }), 'payload');
    },
    async classify(images): Promise<ClassifyReply> {
      if (images.length === 3072) {
        const reply = await unary(Classify, { image: images });
        return { labels: Uint8Array.of(numberField(reply, 'label')), computeNs: numberField(reply, 'compute_ns') };
      }
      const reply = await unary(ClassifyBatch, { images });
      return { labels: bytesField(reply, 'labels'), computeNs: numberField(reply, 'compute_ns') };
    },
    async generate(params) {
      const reply = await unary(Generate, generateFields(params));
      return { response: typeof reply['response'] === 'string' ? reply['response'] : '', stats: toGenerateStats(reply['stats']) };
    },
    generateStream,
    close() {
      closed = true;
      client.close();
      return Promise.resolve();
    },
  };
  return transport;
};

// proto3 leaves zero values off the wire, so an absent field reads as its zero value.
function bytesField(reply: Record<string, unknown>, key: string): Uint8Array {
  const value = reply[key];
  if (value === undefined) return new Uint8Array(0);
  if (!(value instanceof Uint8Array)) throw new HarnessError('PROTOCOL_ERROR', `Expected \`${key}\` to be bytes, got ${typeof value}`);
  return value;
}

function numberField(reply: Record<string, unknown>, key: string): number {
  const value = reply[key];
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw new HarnessError('PROTOCOL_ERROR', `Expected \`${key}\` to be a number, got ${typeof value}`);
  return value;
}
