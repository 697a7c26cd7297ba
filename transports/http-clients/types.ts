/**
 * The one small interface the http-json transport speaks through, so the client library is a
 * measured choice (issue 15): undici, WHATWG fetch, node:http. Every adapter keeps one keep-alive
 * connection per client (requests queue on it, one at a time), fails a request with no reply
 * headers, or no body bytes, for `timeoutMs` with TIMEOUT, and throws only HarnessErrors with the
 * codes fromUndiciError gives (TIMEOUT, SIDECAR_CLOSED, CONNECT_FAILED, FRAME_TOO_LARGE, PROTOCOL_ERROR).
 */
import type { Address } from '../address.js';

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer | null;
}

/** Header names are lower case; a repeated header may come as a list. */
export type HttpHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** A reply whose head has arrived; its body is read once, by exactly one of the three methods. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: HttpHeaders;
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  /** The body as it arrives (a streamed reply, SSE). */
  chunks(): AsyncIterable<Uint8Array>;
}

export interface HttpClientOptions {
  readonly address: Address;
  readonly timeoutMs: number;
  /** A reply body larger than this fails with FRAME_TOO_LARGE. */
  readonly maxResponseBytes: number;
  /** An idle connection is let go after this long: before the server's keep-alive ends it. */
  readonly keepAliveMs: number;
}

export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
  /** Let requests in flight finish, then close. */
  close(): Promise<void>;
  /** Close now, failing requests in flight. */
  destroy(): Promise<void>;
}

export type HttpClientFactory = (options: HttpClientOptions) => HttpClient;

/** `http://host:port` for tcp; for a unix socket the host is a placeholder (the socket path is what connects). */
export function originOf(address: Address): string {
  if (address.family === 'unix') return 'http://localhost';
  return `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}
