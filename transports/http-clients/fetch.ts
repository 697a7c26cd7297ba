/**
 * The fetch adapter: Node's global WHATWG `fetch`, through an undici Client as its dispatcher. A unix
 * socket needs a dispatcher anyway, and giving both families the same one keeps the connection
 * (one keep-alive socket, the same timeouts and size limit) identical to the undici adapter's, so
 * the difference measured is fetch's own layer: Request/Response objects, Headers, web streams.
 */
import { fromUndiciError } from '../http-json-replies.js';
import { originOf, type HttpClient, type HttpClientOptions, type HttpHeaders, type HttpResponse } from './types.js';
import { undiciConnection } from './undici.js';

/** fetch wraps what failed as `TypeError('fetch failed', { cause })`: the undici error with a code is in the cause chain. */
function fromFetchError(error: unknown, timeoutMs: number): ReturnType<typeof fromUndiciError> {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    if (typeof (current as { code?: unknown }).code === 'string') return fromUndiciError(current, timeoutMs);
    current = current.cause;
  }
  return fromUndiciError(error, timeoutMs);
}

function wrap(response: Response, timeoutMs: number): HttpResponse {
  const read = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw fromFetchError(error, timeoutMs);
    }
  };
  const headers: HttpHeaders = Object.fromEntries(response.headers);
  return {
    statusCode: response.status,
    headers,
    bytes: () => read(async () => new Uint8Array(await response.arrayBuffer())),
    text: () => read(() => response.text()),
    async *chunks() {
      if (response.body === null) return;
      try {
        for await (const chunk of response.body) yield chunk;
      } catch (error) {
        throw fromFetchError(error, timeoutMs);
      }
    },
  };
}

export function createFetchClient(options: HttpClientOptions): HttpClient {
  const dispatcher = undiciConnection(options);
  const origin = originOf(options.address);
  return {
    async request({ method, path, headers, body }) {
      // `dispatcher` is undici's extension to RequestInit. Node's fetch is its bundled undici, typed
      // by undici-types, whose handler types differ from the undici package's: the dispatch call
      // itself is compatible (undici 7 accepts the older handler shape), the types are not.
      const init = { method, headers, body, dispatcher } as unknown as RequestInit;
      try {
        return wrap(await fetch(`${origin}${path}`, init), options.timeoutMs);
      } catch (error) {
        throw fromFetchError(error, options.timeoutMs);
      }
    },
    close: () => dispatcher.close(),
    destroy: () => dispatcher.destroy(),
  };
}
