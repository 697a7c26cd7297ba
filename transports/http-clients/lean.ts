/**
 * `lean`: a minimal HTTP/1.1 client on node:net, the protocol's floor in Node (issue 15). One
 * keep-alive connection, one request on it at a time (others queue), each request written as one
 * buffer (head + body), replies read by lean-parse.ts. The deadlines are the other adapters':
 * no reply head within `timeoutMs` of the request being made, or no body bytes for `timeoutMs`,
 * fails with TIMEOUT; a failed reply drops the connection (the next request opens a new one).
 */
import net from 'node:net';
import { HarnessError, toHarnessError } from '../errors.js';
import { createResponseParser, type ResponseHead, type ResponseParser } from './lean-parse.js';
import { LeanResponse } from './lean-body.js';
import { createDeadlines, type Deadline } from '../deadlines.js';
import type { HttpClient, HttpClientOptions, HttpRequest, HttpResponse } from './types.js';

interface Pending {
  readonly request: HttpRequest;
  resolve(response: HttpResponse): void;
  reject(error: HarnessError): void;
  readonly timer: Deadline;
}

interface Connection {
  readonly socket: net.Socket;
  readonly parser: ResponseParser;
  /** False once a reply said `Connection: close`: the next request opens a new connection. */
  reusable: boolean;
}

const READ_BUFFER_BYTES = 64 * 1024;

const timeout = (timeoutMs: number, what: string): HarnessError => new HarnessError('TIMEOUT', `Expected ${what} within ${timeoutMs} ms, got none`);

/** The request's head and body as one buffer: one write, one syscall, one packet when it fits. */
function encodeRequest({ method, path, headers, body }: HttpRequest, host: string): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  if (body !== null || method === 'POST') head += `content-length: ${body?.length ?? 0}\r\n`;
  head += '\r\n';
  if (body === null || body.length === 0) return Buffer.from(head, 'latin1');
  const size = Buffer.byteLength(head, 'latin1');
  const out = Buffer.allocUnsafe(size + body.length);
  out.write(head, 0, 'latin1');
  body.copy(out, size);
  return out;
}

export function createLeanClient(options: HttpClientOptions): HttpClient {
  const { address, timeoutMs, maxResponseBytes, keepAliveMs } = options;
  const host = address.family === 'unix' ? 'localhost' : address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
  const queue: Pending[] = [];
  let active: Pending | undefined; // written, head not yet here
  let body: LeanResponse | undefined; // head here, body not yet ended
  let connection: Connection | undefined;
  let closing = false;
  let drained: (() => void) | undefined;
  // One timer for every request's reply deadline (deadlines.ts), not a setTimeout + clearTimeout each.
  const deadlines = createDeadlines(timeoutMs);
  const limits = { timeoutMs, maxResponseBytes, onFail: (error: HarnessError) => drop(error) };

  /** Ends the connection and fails whatever was on it. */
  function drop(error: HarnessError): void {
    const was = connection;
    connection = undefined;
    was?.socket.destroy();
    if (active !== undefined) {
      active.timer.clear();
      active.reject(error);
      active = undefined;
    }
    const open = body;
    body = undefined;
    open?.fail(error);
    next();
  }

  function connect(): Connection {
    // `onread` hands each read straight to `received`, past the Readable stream's push and 'data'
    // emit (a visible share of this client's CPU in a profile); reads land in one buffer per
    // connection, so each is copied out before the parser may keep views of it.
    const onread = { buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback: (bytes: number, buffer: Uint8Array): boolean => received(Buffer.from(buffer.subarray(0, bytes))) };
    const socket = address.family === 'unix' ? net.connect({ path: address.path, onread }) : net.connect({ host: address.host, port: address.port, noDelay: true, onread });
    // A dropped connection's parser may still be looping over its last read: it must not touch the new one's requests.
    const parser = createResponseParser({
      head: (head) => {
        if (connection === own) onHead(head);
      },
      body: (piece) => {
        if (connection === own) body?.push(piece);
      },
      end: () => {
        if (connection === own) onEnd();
      },
    });
    const own: Connection = { socket, parser, reusable: true };
    // The socket's own inactivity timer lets an idle connection go (no timer of ours per request);
    // a request still on it when it fires has deadlines of its own.
    socket.setTimeout(keepAliveMs, () => {
      if (connection === own && active === undefined && body === undefined) socket.end();
    });
    function received(chunk: Buffer): boolean {
      try {
        parser.push(chunk);
        body?.wait();
      } catch (error) {
        if (connection === own) drop(toHarnessError(error, 'PROTOCOL_ERROR'));
      }
      return true;
    }
    socket.on('error', (error) => {
      if (connection === own) drop(toHarnessError(error, 'SIDECAR_CLOSED'));
    });
    socket.on('close', () => {
      if (connection !== own) return;
      const complete = parser.closed(); // a close-delimited body ends here
      if (!complete || active !== undefined) drop(new HarnessError('SIDECAR_CLOSED', 'The connection to the sidecar closed before the reply ended'));
      else connection = undefined;
      next();
    });
    return own;
  }

  function onHead(head: ResponseHead): void {
    const waiting = active;
    if (waiting === undefined) throw new HarnessError('PROTOCOL_ERROR', 'Expected no reply, got one with no request waiting');
    waiting.timer.clear();
    active = undefined;
    if (head.contentLength !== undefined && head.contentLength > maxResponseBytes) {
      const error = new HarnessError('FRAME_TOO_LARGE', `Expected a reply body of at most ${maxResponseBytes} bytes, got a Content-Length of ${head.contentLength}`);
      waiting.reject(error);
      drop(error);
      return;
    }
    body = new LeanResponse(head.statusCode, head.headers, limits);
    if (!head.keepAlive && connection !== undefined) {
      connection.reusable = false;
      connection.socket.end();
    }
    waiting.resolve(body);
  }

  function onEnd(): void {
    body?.end();
    body = undefined;
    next();
  }

  /** Writes the next queued request when the connection is free; ends it when the queue is done on close(). */
  function next(): void {
    if (active !== undefined || body !== undefined) return;
    const pending = queue.shift();
    if (pending === undefined) {
      if (closing) {
        connection?.socket.end();
        drained?.();
      }
      return;
    }
    if (connection === undefined || !connection.reusable) connection = connect();
    active = pending;
    connection.socket.write(encodeRequest(pending.request, host));
  }

  return {
    request(request) {
      return new Promise<HttpResponse>((resolve, reject) => {
        if (closing) return reject(new HarnessError('SIDECAR_CLOSED', 'The HTTP client is closed'));
        // Counted from when the request is made, as undici counts headersTimeout (a queued request waits too).
        const timer = deadlines.start(() => {
          const at = queue.indexOf(pending);
          if (at >= 0) queue.splice(at, 1);
          if (active === pending) drop(timeout(timeoutMs, 'a reply'));
          else reject(timeout(timeoutMs, 'a reply'));
        });
        const pending: Pending = { request, resolve, reject, timer };
        queue.push(pending);
        next();
      });
    },
    close() {
      closing = true;
      if (active === undefined && body === undefined && queue.length === 0) {
        connection?.socket.end();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => (drained = resolve));
    },
    destroy() {
      closing = true;
      const error = new HarnessError('SIDECAR_CLOSED', 'The HTTP client was destroyed');
      for (const pending of queue.splice(0)) {
        pending.timer.clear();
        pending.reject(error);
      }
      drop(error);
      deadlines.stop();
      drained?.();
      return Promise.resolve();
    },
  };
}
