/** The undici adapter: one undici Client (one keep-alive connection, no pipelining), undici's request API. */
import { Client, type Dispatcher } from 'undici';
import { fromUndiciError } from '../http-json-replies.js';
import { originOf, type HttpClient, type HttpClientOptions, type HttpResponse } from './types.js';

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

function wrap(response: Dispatcher.ResponseData, timeoutMs: number): HttpResponse {
  const read = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw fromUndiciError(error, timeoutMs);
    }
  };
  return {
    statusCode: response.statusCode,
    headers: response.headers,
    bytes: () => read(async () => new Uint8Array(await response.body.arrayBuffer())),
    text: () => read(() => response.body.text()),
    async *chunks() {
      try {
        for await (const chunk of response.body as AsyncIterable<Uint8Array>) yield chunk;
      } catch (error) {
        throw fromUndiciError(error, timeoutMs);
      }
    },
  };
}

export function createUndiciClient(options: HttpClientOptions): HttpClient {
  const client = undiciConnection(options);
  return {
    async request({ method, path, headers, body }) {
      try {
        return wrap(await client.request({ method, path, headers, body }), options.timeoutMs);
      } catch (error) {
        throw fromUndiciError(error, options.timeoutMs);
      }
    },
    close: () => client.close(),
    destroy: () => client.destroy(),
  };
}
