import { HarnessError } from './errors.js';
import type { Address } from './address.js';

/** A transport's name describes its wire; the same string is used by the CLI, CSV, charts and Python. */
export const TRANSPORT_NAMES = ['framed', 'msgpack', 'http-json', 'grpc'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

/** How the http-json sidecar's gunicorn runs: `sync` closes the connection after each response. */
export const HTTP_SETUPS = ['sync', 'gthread'] as const;
export type HttpSetup = (typeof HTTP_SETUPS)[number];

/**
 * The http-json sidecar's server stack (`--http-stack`): Flask under gunicorn's sync or gthread
 * worker (the idea's), a plain ASGI app under uvicorn (uvloop + httptools), or `lean`, our own
 * minimal HTTP/1.1 server: the protocol's floor, not a framework.
 */
export const HTTP_STACKS = ['gunicorn-sync', 'gunicorn-gthread', 'uvicorn', 'lean'] as const;
export type HttpStack = (typeof HTTP_STACKS)[number];
/** The old `--http-worker` spelling of the gunicorn stacks. */
export const HTTP_STACK_OF_SETUP: Readonly<Record<HttpSetup, HttpStack>> = { sync: 'gunicorn-sync', gthread: 'gunicorn-gthread' };

/**
 * The Node HTTP client library an http-json transport speaks through (transports/http-clients/):
 * `lean` is our own minimal HTTP/1.1 client on node:net, the protocol's floor in Node.
 */
export const HTTP_CLIENTS = ['undici', 'fetch', 'node-http', 'lean'] as const;
export type HttpClientName = (typeof HTTP_CLIENTS)[number];

/** The grpc sidecar's server (`--grpc-server`): grpcio's thread pool, its asyncio API, or asyncio on uvloop. */
export const GRPC_SERVERS = ['thread', 'aio', 'aio-uvloop'] as const;
export type GrpcServer = (typeof GRPC_SERVERS)[number];

/** The Node gRPC client: @grpc/grpc-js, or `lean-http2`, a minimal client on node:http2 (the protocol's floor in Node). */
export const GRPC_CLIENTS = ['grpc-js', 'lean-http2'] as const;
export type GrpcClientName = (typeof GRPC_CLIENTS)[number];

/**
 * Which requests a client may send. `ours` (the default): every request this project defines, the
 * timed ones included. `idea`: where the idea this project grew from defines a request, only that
 * one (framed type 1 for one image, whose reply names the class), so that a server written to the
 * idea alone answers; what the idea does not define (batches) stays ours (docs/protocol.md).
 * `oip`: any Open Inference Protocol server (Triton, MLServer, KServe, ours), http-json and grpc
 * only: readiness is asked the protocol's way (REST `GET /v2/health/ready`, gRPC `ServerReady`)
 * and only its routes are used, so infer and metadata work and every other op is UNSUPPORTED_OP.
 */
export type Dialect = 'ours' | 'idea' | 'oip';

export interface TransportOptions {
  readonly address: Address;
  /** A request with no reply after this long fails with TIMEOUT (and its connection is dropped). */
  readonly timeoutMs: number;
  /** Frames or messages larger than this are refused in both directions. */
  readonly maxFrameBytes: number;
  readonly dialect?: Dialect;
  /** The model's class names, by index: how a reply that names its class is read back as an index. */
  readonly classNames?: readonly string[];
  /**
   * http-json: a route to `GET` when the client is created, which must answer 2xx (our sidecar's
   * is `/healthz`). Without one the client only checks that the address accepts a connection.
   */
  readonly healthPath?: string;
  /**
   * http-json infer: `binary` (the default) sends and asks for tensors in the Open Inference
   * Protocol's binary tensor data extension; `json` puts every element in the JSON body.
   */
  readonly tensorEncoding?: 'binary' | 'json';
  /**
   * The served model's name, which the Open Inference Protocol puts in every route (http-json,
   * grpc; framed and msgpack serve one model and need none). Our sidecar's ready line has it
   * (`metadata.name`). Without it, http-json asks once, on the first infer or metadata: our
   * sidecar's `GET /healthz` (`model`), or under dialect `oip` the repository extension's
   * `POST /v2/repository/index` when it lists exactly one model; grpc cannot ask
   * (KServe's service has no list of models) and fails with USAGE.
   */
  readonly modelName?: string;
  /** http-json: the client library (default `undici`); every one keeps one keep-alive connection per transport. */
  readonly httpClient?: HttpClientName;
  /** grpc: the client (default `grpc-js`); both keep one HTTP/2 connection per transport. */
  readonly grpcClient?: GrpcClientName;
}

export interface ClassifyReply {
  /** One class index per image. */
  readonly labels: Uint8Array;
  /** The model's own compute time for the request, when the wire carries it. */
  readonly computeNs?: number;
  /** The classes as the server named them, when the reply names them (framed type 1). */
  readonly names?: readonly string[];
}

/** The index of class `name` in `classNames`; a name not there is UNKNOWN_LABEL. */
export function labelIndex(name: string, classNames: readonly string[] | undefined): number {
  const index = classNames?.indexOf(name) ?? -1;
  if (index < 0 || index > 255) {
    const known = classNames === undefined ? 'no class names were given' : `expected one of ${classNames.join(', ')}`;
    throw new HarnessError('UNKNOWN_LABEL', `The server named the class ${JSON.stringify(name.slice(0, 200))}: ${known}`, { details: { label: name } });
  }
  return index;
}

export interface GenerateParams {
  readonly prompt: string;
  readonly samplingSteps?: number;
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
  readonly seed?: number;
}

export interface GenerateStats {
  readonly promptTokens?: number;
  readonly outputTokens?: number;
  readonly prefillNs?: number;
  readonly decodeNs?: number;
  readonly ttftNs?: number;
  readonly finishReason?: string;
}

export interface GenerateReply {
  readonly response: string;
  readonly stats: GenerateStats;
}

/** The Open Inference Protocol's tensor datatypes (KServe v2); on every wire the data is raw little-endian. */
export const TENSOR_DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;
export type TensorDatatype = (typeof TENSOR_DATATYPES)[number];

/** A named, typed tensor. `data` holds the raw little-endian elements; a BYTES tensor holds each element as a u32 LE length and its bytes. */
export interface Tensor {
  readonly name: string;
  readonly datatype: TensorDatatype;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** One input or output as model metadata declares it; `-1` is a dimension of any size. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: TensorDatatype;
  readonly shape: readonly number[];
}

/** The Open Inference Protocol's model metadata (`GET /v2/models/{name}`, gRPC ModelMetadata). */
export interface ModelMetadata {
  readonly name: string;
  readonly versions?: readonly string[];
  readonly platform?: string;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
}

export interface InferReply {
  readonly outputs: readonly Tensor[];
  /** The model's own compute time for the request, when the wire carries it. */
  readonly computeNs?: number;
}

/**
 * A client for one sidecar connection (or pool). Methods may be called again before earlier
 * calls settle; every call settles, with a HarnessError on failure.
 */
export interface Transport {
  readonly name: TransportName;
  echo(payload: Uint8Array): Promise<Uint8Array>;
  /** `images` holds K planar 3072-byte images; K = 1 uses the single-image request. */
  classify(images: Uint8Array): Promise<ClassifyReply>;
  /** The generic op: named typed tensors in, named typed tensors out (any model, docs/protocol.md "Tensors"). */
  infer(inputs: readonly Tensor[]): Promise<InferReply>;
  /** The served model's metadata, from which a client can build valid inputs. */
  metadata(): Promise<ModelMetadata>;
  generate(params: GenerateParams): Promise<GenerateReply>;
  /** Calls `onText` for every streamed piece of text, as it arrives. */
  generateStream(params: GenerateParams, onText: (text: string) => void): Promise<GenerateReply>;
  close(): Promise<void>;
}

export type TransportFactory = (options: TransportOptions) => Promise<Transport>;

/** Convert the sidecar's snake_case stats object into GenerateStats. */
export function toGenerateStats(raw: unknown): GenerateStats {
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const num = (key: string): number | undefined => (typeof r[key] === 'number' ? r[key] : undefined);
  const stats: Record<string, number | string> = {};
  const pairs = [
    ['promptTokens', 'prompt_tokens'],
    ['outputTokens', 'output_tokens'],
    ['prefillNs', 'prefill_ns'],
    ['decodeNs', 'decode_ns'],
    ['ttftNs', 'ttft_ns'],
  ] as const;
  for (const [to, from] of pairs) {
    const value = num(from);
    if (value !== undefined) stats[to] = value;
  }
  if (typeof r['finish_reason'] === 'string') stats['finishReason'] = r['finish_reason'];
  return stats as GenerateStats;
}
