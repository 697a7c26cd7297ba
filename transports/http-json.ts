/**
 * The `http-json` wire: JSON over HTTP/1.1 to the sidecar's server stack (docs/protocol.md), through
 * one HTTP client, that is one keep-alive connection, per transport: undici by default, or fetch or
 * node:http (`httpClient`, transports/http-clients/), all behind one small interface. Binary payloads travel
 * base64-encoded in JSON strings: that is the honest cost of this wire. Error bodies
 * (`{"error": {code, message}}`) become HarnessErrors with the same codes; a server written to the
 * idea alone is read as it answers (http-json-replies.ts). Infer and metadata use the Open
 * Inference Protocol's REST routes on the same server (`/v2/models/{name}`, oip-rest.ts), with
 * tensors in its binary extension unless `tensorEncoding` is `json`.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { fromWireError, HarnessError } from './errors.js';
import type { Address } from './address.js';
import { generateFields } from './generate-fields.js';
import { parseJsonReply, record, replyError, responseText } from './http-json-replies.js';
import { loadHttpClient } from './http-clients/index.js';
import type { HttpResponse } from './http-clients/types.js';
import { createSseParser } from './sse.js';
import { readModelMetadata } from './model-metadata.js';
import { decodeInferBody, encodeInferBody } from './oip-rest.js';
import type { ClassifyReply, GenerateParams, GenerateReply, InferReply, Tensor, Transport, TransportFactory } from './types.js';
import { toGenerateStats } from './types.js';

export const HTTP_PATHS = { echo: '/echo', prompt: '/prompt', classify: '/classify', classifyBatch: '/classify_batch', health: '/healthz' } as const;
/** The Open Inference Protocol's routes this client uses; a model's own are under `/v2/models/{name}`. */
export const OIP_PATHS = { ready: '/v2/health/ready', repositoryIndex: '/v2/repository/index' } as const;
const modelPath = (name: string): string => `/v2/models/${encodeURIComponent(name)}`;

// The client lets an idle connection go before the server's keep-alive (gunicorn's 75 s) does, so it
// never sends a request on a connection the server is closing (no client here retries a POST); a
// shorter one the server announces (`Keep-Alive: timeout=N`) undici and node:http's Agent honour.
const CLIENT_KEEPALIVE_MS = 60_000;
const JSON_HEADERS = { 'content-type': 'application/json' } as const;
function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HarnessError('PROTOCOL_ERROR', `Expected a JSON ${what}, got ${text.length} characters that do not parse`, { cause: error });
  }
}

function contentTypeOf(response: HttpResponse): string {
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

/**
 * `{"<name>":"<bytes in base64>"}`, byte for byte what JSON.stringify writes for it, without its
 * scan of every character for escapes: base64's alphabet has none to escape, and on Node 20 that
 * scan is most of the cost of a 4 KiB request (7.0 against 2.2 us, `.prof`-style loop, pinned).
 * `name` is one of ours (a plain identifier).
 */
export function base64Body(name: string, bytes: Uint8Array): Buffer {
  return Buffer.from(`{"${name}":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"}`, 'latin1');
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

export const createHttpJsonTransport: TransportFactory = async (options) => {
  const { address, timeoutMs, maxFrameBytes } = options;
  const createClient = await loadHttpClient(options.httpClient ?? 'undici');
  const client = createClient({ address, timeoutMs, maxResponseBytes: maxFrameBytes, keepAliveMs: CLIENT_KEEPALIVE_MS });

  /** `fields` as JSON, or a body already encoded (base64Body). */
  function send(method: 'GET' | 'POST', path: string, fields?: unknown): Promise<HttpResponse> {
    const body = fields === undefined ? null : Buffer.isBuffer(fields) ? fields : Buffer.from(JSON.stringify(fields));
    return sendBody(method, path, JSON_HEADERS, body);
  }

  // Not async: the client's promise is handed on as it is, with no extra promise and ticks around it.
  function sendBody(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body: Buffer | null): Promise<HttpResponse> {
    if (body !== null && body.length > maxFrameBytes) {
      return Promise.reject(new HarnessError('FRAME_TOO_LARGE', `Expected a request body of at most ${maxFrameBytes} bytes, got ${body.length}`));
    }
    return client.request({ method, path, headers, body });
  }

  const readText = (response: HttpResponse): Promise<string> => response.text();

  /**
   * One request, its whole body read, as the reply object; a non-200 reply throws its error. One
   * async layer over the client's two awaits (the echo's hot path: each layer more cost ~1-2 us).
   */
  async function call(method: 'GET' | 'POST', path: string, fields?: unknown): Promise<Record<string, unknown>> {
    const response = await send(method, path, fields);
    return objectOf(response, await response.text(), `${method} ${path}`);
  }

  async function replyObject(response: HttpResponse, request: string): Promise<Record<string, unknown>> {
    return objectOf(response, await readText(response), request);
  }

  function objectOf(response: HttpResponse, text: string, request: string): Record<string, unknown> {
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
    for await (const chunk of response.chunks()) parser.push(chunk);
    if (failure !== undefined) throw failure;
    if (final === undefined) throw new HarnessError('PROTOCOL_ERROR', 'Expected a final `done` event before the event stream ended');
    return final;
  }

  async function infer(inputs: readonly Tensor[]): Promise<InferReply> {
    const path = `${modelPath(await modelName())}/infer`;
    const { headers, body } = encodeInferBody(inputs, options.tensorEncoding ?? 'binary');
    const response = await sendBody('POST', path, headers, body);
    if (response.statusCode !== 200) throw replyError(response.statusCode, await readText(response), contentTypeOf(response), `POST ${path}`);
    return decodeInferBody(response.headers, await response.bytes());
  }

  // The model's name, asked for once when not given (TransportOptions.modelName says where from).
  let name: Promise<string> | undefined = options.modelName === undefined ? undefined : Promise.resolve(options.modelName);
  function modelName(): Promise<string> {
    name ??= discoverModelName().catch((error: unknown) => {
      name = undefined; // a failed look-up is asked again next time
      throw error;
    });
    return name;
  }

  async function discoverModelName(): Promise<string> {
    const oip = options.dialect === 'oip';
    const path = oip ? OIP_PATHS.repositoryIndex : HTTP_PATHS.health;
    const response = await send(oip ? 'POST' : 'GET', path, oip ? {} : undefined);
    const text = await readText(response);
    const usage = (why: string): HarnessError => new HarnessError('USAGE', `Expected \`modelName\` for the Open Inference Protocol's routes: ${why}`);
    if (response.statusCode !== 200) throw usage(`${oip ? 'POST' : 'GET'} ${path} answered HTTP ${response.statusCode}`);
    const value = parseJsonReply(text, contentTypeOf(response), `${oip ? 'POST' : 'GET'} ${path}`);
    const names = oip ? (Array.isArray(value) ? value.map((m) => record(m)['name']) : []) : [record(value)['model']];
    const found = names.filter((n): n is string => typeof n === 'string' && n !== '');
    if (found.length !== 1) throw usage(`${path} names ${found.length === 0 ? 'no model' : `${found.length} models (${found.join(', ')})`}`);
    return found[0] as string;
  }

  /** Under dialect `oip` only the protocol's routes exist: every other op is refused without a request. */
  const notOip = (op: string): HarnessError => new HarnessError('UNSUPPORTED_OP', `\`${op}\` is not an Open Inference Protocol route (dialect oip)`);
  const oipOnly = <T>(op: string, run: () => Promise<T>): Promise<T> => (options.dialect === 'oip' ? Promise.reject(notOip(op)) : run());

  // Check the peer now, so a wrong address fails here (CONNECT_FAILED) like the other wires. Readiness
  // is the route under test answering; a health route is asked only when one is named, except that
  // an Open Inference Protocol server is asked its own readiness route.
  try {
    if (options.dialect === 'oip') await checkHealth(OIP_PATHS.ready);
    else if (options.healthPath === undefined) await probe(address, timeoutMs);
    else await checkHealth(options.healthPath);
  } catch (error) {
    await client.destroy();
    throw error;
  }

  const transport: Transport = {
    name: 'http-json',
    infer,
    async metadata() {
      return readModelMetadata(await call('GET', modelPath(await modelName())));
    },
    // Not through oipOnly: a closure per call is a measurable share of the echo's client time.
    async echo(payload) {
      if (options.dialect === 'oip') throw notOip('echo');
      const reply = await call('POST', HTTP_PATHS.echo, base64Body('prompt', payload));
      const echoed = reply['echo_prompt'];
      if (typeof echoed !== 'string') throw new HarnessError('PROTOCOL_ERROR', 'Expected `echo_prompt` to be a string in the echo reply');
      return Buffer.from(echoed, 'base64');
    },
    classify: (images) => oipOnly('classify', async (): Promise<ClassifyReply> => {
      const single = images.length === 3072;
      const reply = single ? await call('POST', HTTP_PATHS.classify, base64Body('image', images)) : await call('POST', HTTP_PATHS.classifyBatch, base64Body('images', images));
      const raw = single ? [reply['label']] : reply['labels'];
      if (!Array.isArray(raw)) throw new HarnessError('PROTOCOL_ERROR', 'Expected `labels` to be an array in the classify reply');
      const labels = byteLabels(raw);
      const computeNs = reply['compute_ns'];
      return typeof computeNs === 'number' ? { labels, computeNs } : { labels };
    }),
    generate: (params) => oipOnly('generate', async () => generated(await call('POST', HTTP_PATHS.prompt, generateFields(params)))),
    generateStream: (params, onText) => oipOnly('generateStream', () => generateStream(params, onText)),
    async close() {
      await client.close();
    },
  };
  return transport;
};
