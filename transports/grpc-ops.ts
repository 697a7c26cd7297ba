/**
 * The `grpc` wire's operations over any gRPC client: service `sidecar.v1.Sidecar` for echo,
 * classify and generation, `inference.GRPCInferenceService` (oip-grpc.ts) for infer and metadata.
 * A client (grpc-js in grpc.ts, lean-http2 in grpc-lean.ts) supplies only calls; what the
 * messages mean, and which errors they make, lives here once.
 */
import { HarnessError } from './errors.js';
import { generateFields } from './generate-fields.js';
import { loadMethods, type GrpcMethod } from './grpc-proto.js';
import { inferRequest, loadOipMethods, readInferResponse, readMetadataResponse } from './oip-grpc.js';
import type { ClassifyReply, GenerateParams, GenerateReply, Transport, TransportOptions } from './types.js';
import { toGenerateStats } from './types.js';

/** What a gRPC client library gives the transport: calls that settle with a HarnessError on failure. */
export interface GrpcCalls {
  unary(method: GrpcMethod, argument: object): Promise<Record<string, unknown>>;
  /** Calls `onMessage` for each message as it arrives; settles when the call ends. */
  serverStream(method: GrpcMethod, argument: object, onMessage: (message: Record<string, unknown>) => void): Promise<void>;
  /** Ends the connection now; calls in flight fail with SIDECAR_CLOSED. */
  close(): void;
}

/** Under dialect `oip`, a server must say it can serve (ServerReady): a connection alone is not enough. */
export async function checkOipReady(calls: GrpcCalls, target: string): Promise<void> {
  const ready = await calls.unary(loadOipMethods().ServerReady, {});
  if (ready['ready'] !== true) {
    throw new HarnessError('CONNECT_FAILED', `The Open Inference Protocol server at ${target} answered ServerReady with ready = false`);
  }
}

export function grpcTransport(calls: GrpcCalls, options: TransportOptions): Transport {
  const { Echo, Classify, ClassifyBatch, Generate, GenerateStream } = loadMethods();

  function modelName(): string {
    if (options.modelName !== undefined) return options.modelName;
    throw new HarnessError('USAGE', "Expected `modelName` for inference.GRPCInferenceService: the service has no way to list its models (our sidecar's ready line has it as `metadata.name`)");
  }

  /** Under dialect `oip` only inference.GRPCInferenceService is there: the Sidecar service's ops are refused without a call. */
  function ours(op: string): void {
    if (options.dialect === 'oip') throw new HarnessError('UNSUPPORTED_OP', `\`${op}\` is not an Open Inference Protocol method (dialect oip)`);
  }

  async function generateStream(params: GenerateParams, onText: (text: string) => void): Promise<GenerateReply> {
    let response = '';
    let final: GenerateReply | undefined;
    await calls.serverStream(GenerateStream, generateFields(params), (chunk) => {
      const text = typeof chunk['text'] === 'string' ? chunk['text'] : '';
      if (text !== '') {
        response += text;
        onText(text);
      }
      if (chunk['done'] === true) final = { response, stats: toGenerateStats(chunk['stats']) };
    });
    if (final === undefined) throw new HarnessError('PROTOCOL_ERROR', 'Expected a final chunk with `done` before the stream ended');
    return final;
  }

  return {
    name: 'grpc',
    async infer(inputs) {
      return readInferResponse(await calls.unary(loadOipMethods().ModelInfer, inferRequest(modelName(), inputs)));
    },
    async metadata() {
      return readMetadataResponse(await calls.unary(loadOipMethods().ModelMetadata, { name: modelName() }));
    },
    async echo(payload) {
      ours('echo');
      return bytesField(await calls.unary(Echo, { payload }), 'payload');
    },
    async classify(images): Promise<ClassifyReply> {
      ours('classify');
      if (images.length === 3072) {
        const reply = await calls.unary(Classify, { image: images });
        return { labels: Uint8Array.of(numberField(reply, 'label')), computeNs: numberField(reply, 'compute_ns') };
      }
      const reply = await calls.unary(ClassifyBatch, { images });
      return { labels: bytesField(reply, 'labels'), computeNs: numberField(reply, 'compute_ns') };
    },
    async generate(params) {
      ours('generate');
      const reply = await calls.unary(Generate, generateFields(params));
      return { response: typeof reply['response'] === 'string' ? reply['response'] : '', stats: toGenerateStats(reply['stats']) };
    },
    async generateStream(params, onText) {
      ours('generateStream');
      return generateStream(params, onText);
    },
    close() {
      calls.close();
      return Promise.resolve();
    },
  };
}

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
