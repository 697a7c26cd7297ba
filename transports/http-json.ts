/**
 * The `http-json` wire: JSON over HTTP/1.1 to a Flask app under gunicorn (docs/protocol.md), through
 * one undici Client, that is one keep-alive connection, per transport. Binary payloads travel
 * base64-encoded in JSON strings: that is the honest cost of this wire. Error bodies
 * (`{"error": {code, message}}`) become HarnessErrors with the same codes; a server written to the
 * idea alone is read as it answers (http-json-replies.ts).
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { Client, type Dispatcher } from 'undici';
import { fromWireError, HarnessError, toHarnessError } from './errors.js';
import type { Address } from './address.js';
import { generateFields } from './framed.js';
import { parseJsonReply, record, replyError, responseText } from './http-json-replies.js';
import type { ClassifyReply, GenerateParams, GenerateReply, Transport, TransportFactory } from './types.js';
import { toGenerateStats } from './types.js';

export const HTTP_PATHS = { echo: '/echo', prompt: '/prompt', classify: '/classify', classifyBatch: '/classify_batch', health: '/healthz' } as const;

// The client lets an idle connection go before the server's keep-alive (75 s) does, so it never
// sends a request on a connection the server is closing (undici does not retry a POST).
const CLIENT_KEEPALIVE_MS = 60_000;
const JSON_HEADERS = { 'content-type': 'application/json' } as const;
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const CLOSED_CODES: ReadonlySet<string> = new Set(['UND_ERR_SOCKET', 'UND_ERR_DESTROYED', 'UND_ERR_CLOSED']);
const PROTOCOL_CODES: ReadonlySet<string> = new Set(['UND_ERR_HTTP_PARSER', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'HPE_INVALID_CONSTANT']);

/** An undici (or socket) failure as a HarnessError with a stable code, keeping the original as `cause`. */
export function fromUndiciError(error: unknown, timeoutMs: number): HarnessError {
  if (error instanceof HarnessError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string') {
    if (TIMEOUT_CODES.has(code)) return new HarnessError('TIMEOUT', `Expected a reply within ${timeoutMs} ms, got none (${code})`, { cause: error });
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return new HarnessError('CONNECT_FAILED', `Could not connect within ${timeoutMs} ms`, { cause: error });
    if (CLOSED_CODES.has(code)) return new HarnessError('SIDECAR_CLOSED', `The connection to the sidecar closed: ${message}`, { cause: error });
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return new HarnessError('FRAME_TOO_LARGE', message, { cause: error });
    if (code === 'UND_ERR_ABORTED' || code === 'UND_ERR_ABORT') return new HarnessError('ABORTED', message, { cause: error });
    if (PROTOCOL_CODES.has(code)) return new HarnessError('PROTOCOL_ERROR', message, { cause: error });
  }
  return toHarnessError(error, 'INTERNAL');
}

/** Incremental `text/event-stream` parsing: `push` takes bytes as they arrive, in any split. */
export function createSseParser(onData: (data: string) => void): { push(chunk: Uint8Array): void } {
  const decoder = new TextDecoder('utf-8');
  let pending = '';
  let data: string[] = [];
  return {
    push(chunk) {
      pending += decoder.decode(chunk, { stream: true });
      let start = 0;
      for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n', start)) {
        const line = pending.slice(start, pending[end - 1] === '\r' ? end - 1 : end);
        start = end + 1;
        if (line === '') {
          if (data.length > 0) onData(data.join('\n'));
          data = [];
          continue;
        }
        const colon = line.indexOf(':');
        if (colon === 0) continue; // a comment
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(line[colon + 1] === ' ' ? colon + 2 : colon + 1);
        if (field === 'data') data.push(value);
      }
      pending = pending.slice(start);
    },
  };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HarnessError('PROTOCOL_ERROR', `Expected a JSON ${what}, got ${text.length} characters that do not parse`, { cause: error });
  }
}

function contentTypeOf(response: Dispatcher.ResponseData): string {
  const value = response.headers['content-type'];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/** Whether `address` accepts a connection (closed at once): a wrong address fails here, as on the other wires. */
function probe(address: Address, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = address.family === 'unix' ? net.connect(address.path) : net.connect(address.port, address.host);
    const fail = (error: Error): void => {
      socket.destroy();
      reject(new HarnessError('CONNECT_FAILED', `Could not connect to the http-json server: ${error.message}`, { cause: error }));
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no connection within ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
  });
}

function byteLabels(values: readonly unknown[]): Uint8Array {
  const labels = new Uint8Array(values.length);
  values.forEach((value, i) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
      throw new HarnessError('PROTOCOL_ERROR', `Expected labels to be integers 0-255, got ${JSON.stringify(value)}`);
    }
    labels[i] = value;
  });
  return labels;
}

function origin(address: Address): string {
  if (address.family === 'unix') return 'http://localhost';
  return `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

export const createHttpJsonTransport: TransportFactory = async (options) => {
  const { address, timeoutMs, maxFrameBytes } = options;
  const client = new Client(origin(address), {
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    keepAliveTimeout: CLIENT_KEEPALIVE_MS,
    keepAliveMaxTimeout: CLIENT_KEEPALIVE_MS,
    maxResponseSize: maxFrameBytes,
    ...(address.family === 'unix' ? { socketPath: address.path } : {}),
  });

  async function send(method: 'GET' | 'POST', path: string, fields?: unknown): Promise<Dispatcher.ResponseData> {
    const body = fields === undefined ? null : Buffer.from(JSON.stringify(fields));
    if (body !== null && body.length > maxFrameBytes) {
      throw new HarnessError('FRAME_TOO_LARGE', `Expected a request body of at most ${maxFrameBytes} bytes, got ${body.length}`);
    }
    try {
      return await client.request({ method, path, headers: JSON_HEADERS, body });
    } catch (error) {
      throw fromUndiciError(error, timeoutMs);
    }
  }

  async function readText(response: Dispatcher.ResponseData): Promise<string> {
    try {
      return await response.body.text();
    } catch (error) {
      throw fromUndiciError(error, timeoutMs);
    }
  }

  /** One request, its whole body read, as the reply object; a non-200 reply throws its error. */
  async function call(method: 'GET' | 'POST', path: string, fields?: unknown): Promise<Record<string, unknown>> {
    const response = await send(method, path, fields);
    return replyObject(response, `${method} ${path}`);
  }

  async function replyObject(response: Dispatcher.ResponseData, request: string): Promise<Record<string, unknown>> {
    const text = await readText(response);
    if (response.statusCode !== 200) throw replyError(response.statusCode, text, contentTypeOf(response), request);
    return record(parseJsonReply(text, contentTypeOf(response), request));
  }

  const generated = (reply: Record<string, unknown>): GenerateReply => ({ response: responseText(reply['response']), stats: toGenerateStats(reply['stats']) });

  async function checkHealth(path: string): Promise<void> {
    const response = await send('GET', path);
    const text = await readText(response);
    if (response.statusCode < 200 || response.statusCode > 299) throw replyError(response.statusCode, text, contentTypeOf(response), `GET ${path}`);
  }

  async function generateStream(params: GenerateParams, onText: (text: string) => void): Promise<GenerateReply> {
    const request = `POST ${HTTP_PATHS.prompt}`;
    const response = await send('POST', HTTP_PATHS.prompt, { ...generateFields(params), stream: true });
    if (response.statusCode !== 200) throw replyError(response.statusCode, await readText(response), contentTypeOf(response), request);
    if (!contentTypeOf(response).startsWith('text/event-stream')) {
      // A server that does not stream (the idea's ignores `stream`) answers whole: its text arrives as one piece, at the end.
      const reply = generated(await replyObject(response, request));
      onText(reply.response);
      return reply;
    }
    let final: GenerateReply | undefined;
    let failure: HarnessError | undefined;
    const parser = createSseParser((data) => {
      const event = record(parseJson(data, 'server-sent event'));
      if (typeof event['token'] === 'string') onText(event['token']);
      else if (event['error'] !== undefined) failure ??= fromWireError(event['error']);
      else if (event['done'] === true) final = generated(event);
    });
    try {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) parser.push(chunk);
    } catch (error) {
      throw fromUndiciError(error, timeoutMs);
    }
    if (failure !== undefined) throw failure;
    if (final === undefined) throw new HarnessError('PROTOCOL_ERROR', 'Expected a final `done` event before the event stream ended');
    return final;
  }

  // Check the peer now, so a wrong address fails here (CONNECT_FAILED) like the other wires. Readiness
  // is the route under test answering; a health route is asked only when one is named.
  try {
    if (options.healthPath === undefined) await probe(address, timeoutMs);
    else await checkHealth(options.healthPath);
  } catch (error) {
    await client.destroy();
    throw error;
  }

  const transport: Transport = {
    name: 'http-json',
    async echo(payload) {
      const reply = await call('POST', HTTP_PATHS.echo, { prompt: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64') });
      const echoed = reply['echo_prompt'];
      if (typeof echoed !== 'string') throw new HarnessError('PROTOCOL_ERROR', 'Expected `echo_prompt` to be a string in the echo reply');
      return Buffer.from(echoed, 'base64');
    },
    async classify(images): Promise<ClassifyReply> {
      const base64 = Buffer.from(images.buffer, images.byteOffset, images.byteLength).toString('base64');
      const single = images.length === 3072;
      const reply = single ? await call('POST', HTTP_PATHS.classify, { image: base64 }) : await call('POST', HTTP_PATHS.classifyBatch, { images: base64 });
      const raw = single ? [reply['label']] : reply['labels'];
      if (!Array.isArray(raw)) throw new HarnessError('PROTOCOL_ERROR', 'Expected `labels` to be an array in the classify reply');
      const labels = byteLabels(raw);
      const computeNs = reply['compute_ns'];
      return typeof computeNs === 'number' ? { labels, computeNs } : { labels };
    },
    async generate(params) {
      return generated(await call('POST', HTTP_PATHS.prompt, generateFields(params)));
    },
    generateStream,
    async close() {
      await client.close();
    },
  };
  return transport;
};
