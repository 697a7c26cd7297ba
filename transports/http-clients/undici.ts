/** The undici adapter: one undici Client (one keep-alive connection, no pipelining), undici's request API. */
import { Client, type Dispatcher } from 'undici';
import { fromUndiciError } from '../http-json-replies.js';
import { originOf, type HttpClient, type HttpClientOptions, type HttpHeaders, type HttpResponse } from './types.js';

/** The Client every undici-based adapter (this one, fetch's dispatcher) connects through, so the connection is the same. */
export function undiciConnection(options: HttpClientOptions): Client {
  const { address, timeoutMs } = options;
  return new Client(originOf(address), {
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    keepAliveTimeout: options.keepAliveMs,
    keepAliveMaxTimeout: options.keepAliveMs,
    maxResponseSize: options.maxResponseBytes,
    ...(address.family === 'unix' ? { socketPath: address.path } : {}),
  });
}

/**
 * A reply read through undici's body, its errors as HarnessErrors. A class: one is made per request,
 * and methods on its prototype cost nothing per reply, where closures cost an allocation each (and,
 * under tsx, a `__name` call): 2.5 us of a 4 KiB echo's client time in a profile.
 */
class UndiciResponse implements HttpResponse {
  readonly statusCode: number;
  readonly headers: HttpHeaders;

  constructor(
    readonly response: Dispatcher.ResponseData,
    readonly timeoutMs: number,
  ) {
    this.statusCode = response.statusCode;
    this.headers = response.headers;
  }

  async bytes(): Promise<Uint8Array> {
    try {
      return new Uint8Array(await this.response.body.arrayBuffer());
    } catch (error) {
      throw fromUndiciError(error, this.timeoutMs);
    }
  }

  async text(): Promise<string> {
    try {
      return await this.response.body.text();
    } catch (error) {
      throw fromUndiciError(error, this.timeoutMs);
    }
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of this.response.body as AsyncIterable<Uint8Array>) yield chunk;
    } catch (error) {
      throw fromUndiciError(error, this.timeoutMs);
    }
  }
}

export function createUndiciClient(options: HttpClientOptions): HttpClient {
  const client = undiciConnection(options);
  return {
    async request({ method, path, headers, body }) {
      try {
        return new UndiciResponse(await client.request({ method, path, headers, body }), options.timeoutMs);
      } catch (error) {
        throw fromUndiciError(error, options.timeoutMs);
      }
    },
    close: () => client.close(),
    destroy: () => client.destroy(),
  };
}
