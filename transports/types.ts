import { HarnessError } from './errors.js';
import type { Address } from './address.js';

/** A transport's name describes its wire; the same string is used by the CLI, CSV, charts and Python. */
export const TRANSPORT_NAMES = ['framed', 'msgpack', 'http-json', 'grpc'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

/** How the http-json sidecar's gunicorn runs: `sync` closes the connection after each response. */
export const HTTP_SETUPS = ['sync', 'gthread'] as const;
export type HttpSetup = (typeof HTTP_SETUPS)[number];

/**
 * Which requests a client may send. `ours` (the default): every request this project defines, the
 * timed ones included. `idea`: where the idea this project grew from defines a request, only that
 * one (framed type 1 for one image, whose reply names the class), so that a server written to the
 * idea alone answers; what the idea does not define (batches) stays ours (docs/protocol.md).
 */
export type Dialect = 'ours' | 'idea';

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

/**
 * A client for one sidecar connection (or pool). Methods may be called again before earlier
 * calls settle; every call settles, with a HarnessError on failure.
 */
export interface Transport {
  readonly name: TransportName;
  echo(payload: Uint8Array): Promise<Uint8Array>;
  /** `images` holds K planar 3072-byte images; K = 1 uses the single-image request. */
  classify(images: Uint8Array): Promise<ClassifyReply>;
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
