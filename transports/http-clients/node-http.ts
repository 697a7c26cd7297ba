/**
 * The node:http adapter: `http.request` through a keep-alive Agent of one socket (requests queue
 * for it, as on the undici Client), unix sockets by `socketPath`. node:http has no reply
 * deadlines of its own, so a local timer gives undici's: no reply head within `timeoutMs`, or no
 * body bytes for `timeoutMs`, destroys the request with TIMEOUT. The Agent lets an idle socket go
 * after `keepAliveMs`, or sooner when the server's `Keep-Alive: timeout=` says so.
 */
import http from 'node:http';
import { HarnessError } from '../errors.js';
import { fromUndiciError } from '../http-json-replies.js';
import type { HttpClient, HttpClientOptions, HttpResponse } from './types.js';

/** A node:http failure as a HarnessError: llhttp's parse errors (`HPE_*`) are the peer breaking the protocol. */
function fromNodeError(error: unknown, timeoutMs: number): HarnessError {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('HPE_')) {
    return new HarnessError('PROTOCOL_ERROR', error instanceof Error ? error.message : String(error), { cause: error });
  }
  return fromUndiciError(error, timeoutMs);
}

const timeout = (timeoutMs: number, what: string): HarnessError => new HarnessError('TIMEOUT', `Expected ${what} within ${timeoutMs} ms, got none`);

function wrap(res: http.IncomingMessage, options: HttpClientOptions): HttpResponse {
  const { timeoutMs, maxResponseBytes } = options;
  // One idle timer for the body, pushed back by every chunk (refresh() reuses it: no timer per chunk).
  const timer = setTimeout(() => res.destroy(timeout(timeoutMs, 'more of the reply body')), timeoutMs);
  res.once('close', () => clearTimeout(timer));
  let received = 0;
  /** Counts a chunk in; a body over the limit ends the reply with FRAME_TOO_LARGE. */
  const admit = (chunk: Buffer): boolean => {
    timer.refresh();
    received += chunk.length;
    if (received <= maxResponseBytes) return true;
    res.destroy(new HarnessError('FRAME_TOO_LARGE', `Expected a reply body of at most ${maxResponseBytes} bytes, got more`));
    return false;
  };
  // Events, not async iteration, for a whole body: the common case, and the cheaper path in Node.
  const bytes = (): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        if (admit(chunk)) parts.push(chunk);
      });
      res.once('end', () => resolve(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts)));
      res.once('error', (error) => reject(fromNodeError(error, timeoutMs)));
      res.once('close', () => {
        if (!res.complete) reject(new HarnessError('SIDECAR_CLOSED', 'The connection to the sidecar closed before the reply ended'));
      });
    });
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) if (admit(chunk)) yield chunk;
    } catch (error) {
      throw fromNodeError(error, timeoutMs);
    }
  }
  return {
    statusCode: res.statusCode ?? 0,
    headers: res.headers,
    bytes: async () => {
      const body = await bytes();
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    },
    text: async () => (await bytes()).toString('utf8'),
    chunks,
  };
}

export function createNodeHttpClient(options: HttpClientOptions): HttpClient {
  const { address, timeoutMs, maxResponseBytes } = options;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: options.keepAliveMs });
  const target = address.family === 'unix' ? { socketPath: address.path } : { host: address.host, port: address.port };
  // Requests not yet ended, so that close() lets them finish as undici's does.
  const inFlight = new Set<Promise<void>>();
  return {
    request({ method, path, headers, body }) {
      return new Promise<HttpResponse>((resolve, reject) => {
        const length = body === null ? (method === 'POST' ? { 'content-length': '0' } : {}) : { 'content-length': String(body.length) };
        const req = http.request({ ...target, agent, method, path, headers: { ...headers, ...length } });
        const ended = new Promise<void>((done) => req.once('close', done));
        inFlight.add(ended);
        void ended.then(() => inFlight.delete(ended));
        // Counted from when the request is made, as undici counts headersTimeout (a queued request waits too).
        const timer = setTimeout(() => req.destroy(timeout(timeoutMs, 'a reply')), timeoutMs);
        req.once('response', (res) => {
          clearTimeout(timer);
          const declared = Number(res.headers['content-length']);
          if (declared > maxResponseBytes) {
            const error = new HarnessError('FRAME_TOO_LARGE', `Expected a reply body of at most ${maxResponseBytes} bytes, got a Content-Length of ${declared}`);
            res.destroy(error);
            reject(error);
            return;
          }
          resolve(wrap(res, options));
        });
        req.once('error', (error) => {
          clearTimeout(timer);
          reject(fromNodeError(error, timeoutMs));
        });
        req.end(body ?? undefined);
      });
    },
    close: async () => {
      // An Agent has no graceful close: wait for the requests in flight (at most one deadline), then let the socket go.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([Promise.all(inFlight), late]);
      clearTimeout(timer);
      agent.destroy();
    },
    destroy: async () => {
      agent.destroy();
    },
  };
}
