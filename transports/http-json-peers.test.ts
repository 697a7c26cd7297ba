/**
 * The http-json client against servers this project did not write: a Node HTTP server that answers
 * the idea's two routes the way a plain Flask app does (no health route, HTML error pages, a
 * `response` that is a list of strings, no streaming), plus whatever a framework puts in between.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessError } from './errors.js';
import { codeOf } from '../harness/testing.js';
import type { Address } from './address.js';
import { createHttpJsonTransport } from './http-json.js';
import { bodySnippet, replyError, responseText } from './http-json-replies.js';
import type { Transport } from './types.js';

const NOT_FOUND_PAGE = `<!doctype html>
<html lang=en>
<title>404 Not Found</title>
<h1>Not Found</h1>
<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>
`;

type Handler = (body: Record<string, unknown>, res: http.ServerResponse) => void;

const json = (res: http.ServerResponse, status: number, value: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
};

/** Routes as a plain Flask app written to the idea would have them, and a few misbehaving ones. */
const ROUTES: Record<string, Handler> = {
  '/echo': (body, res) => json(res, 200, { echo_prompt: body['prompt'] }),
  '/prompt': (body, res) => json(res, 200, { response: [`${String(body['prompt'])} x${Number(body['sampling_steps'] ?? 128)}`] }),
  '/list-of-two': (_body, res) => json(res, 200, { response: ['a', 'b'] }),
  '/number': (_body, res) => json(res, 200, { response: 5 }),
  '/crash': (_body, res) => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Traceback (most recent call last):\n  KeyError: prompt'),
  '/html-ok': (_body, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><title>Welcome</title><p>nginx is running</p></html>'),
  '/flask-json-error': (_body, res) => json(res, 400, { message: 'The browser (or proxy) sent a request that this server could not understand.' }),
};

let server: http.Server;
let address: Address;
let prefix = ''; // a misbehaving route that answers /prompt in its place

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // `prefix` swaps in a misbehaving /prompt for one test.
      const route = (prefix !== '' && req.url === '/prompt' ? ROUTES[prefix] : undefined) ?? ROUTES[req.url ?? ''];
      if (route === undefined || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' }).end(NOT_FOUND_PAGE);
        return;
      }
      route(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = { family: 'tcp', host: '127.0.0.1', port: (server.address() as AddressInfo).port };
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function connect(healthPath?: string): Promise<Transport> {
  return createHttpJsonTransport({ address, timeoutMs: 5000, maxFrameBytes: 1 << 20, ...(healthPath === undefined ? {} : { healthPath }) });
}

describe('http-json against a server written to the idea alone', () => {
  it('connects without asking for a health route, and echoes', async () => {
    const transport = await connect();
    expect([...(await transport.echo(Uint8Array.of(1, 2, 250)))]).toEqual([1, 2, 250]);
    await transport.close();
  });

  it('asks a health route only when told to, and reports the 404 page for what it is', async () => {
    const error = await connect('/healthz').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe('UNKNOWN_TYPE');
    expect((error as HarnessError).message).toContain('HTTP 404 from GET /healthz, a text/html body: "404 Not Found Not Found The requested URL');
    expect((error as HarnessError).details).toMatchObject({ status: 404, contentType: 'text/html; charset=utf-8' });
  });

  it('fails to connect to an address nothing listens on with CONNECT_FAILED', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await codeOf(createHttpJsonTransport({ address: { family: 'tcp', host: '127.0.0.1', port }, timeoutMs: 2000, maxFrameBytes: 1 << 20 }))).toBe('CONNECT_FAILED');
    expect(await codeOf(createHttpJsonTransport({ address: { family: 'unix', path: '/nonexistent/peer.sock' }, timeoutMs: 2000, maxFrameBytes: 1 << 20 }))).toBe('CONNECT_FAILED');
  });

  it('reads `response` as a string or a list of strings, unary and when asked to stream', async () => {
    const transport = await connect();
    expect(await transport.generate({ prompt: 'hi', samplingSteps: 8 })).toEqual({ response: 'hi x8', stats: {} });
    // The idea's server ignores `stream`: its whole text is one piece, at the end.
    const pieces: string[] = [];
    expect((await transport.generateStream({ prompt: 'yo' }, (text) => pieces.push(text))).response).toBe('yo x128');
    expect(pieces).toEqual(['yo x128']);
    await transport.close();
  });

  it('reports error pages and non-JSON replies as what they are', async () => {
    const transport = await connect();
    expect(await codeOf(transport.classify(new Uint8Array(3072)))).toBe('UNKNOWN_TYPE'); // the idea has no /classify
    for (const [route, code, text] of [
      ['/crash', 'INTERNAL', 'HTTP 500 from POST /prompt, a text/plain body: "Traceback (most recent call last): KeyError: prompt"'],
      ['/html-ok', 'PROTOCOL_ERROR', 'Expected a JSON reply from POST /prompt, got HTTP 200 with a text/html body: "Welcome nginx is running"'],
      ['/flask-json-error', 'BAD_INPUT', 'HTTP 400 from POST /prompt, an application/json body: "{\\"message\\":'],
      ['/number', 'PROTOCOL_ERROR', 'Expected `response` to be a string or a list of strings, got 5'],
    ] as const) {
      prefix = route;
      const error = await transport.generate({ prompt: 'x' }).then(
        () => undefined,
        (e: unknown) => e as HarnessError,
      );
      expect(error?.code, route).toBe(code);
      expect(error?.message, route).toContain(text);
    }
    prefix = '/list-of-two';
    expect((await transport.generate({ prompt: 'x' })).response).toBe('ab');
    prefix = '';
    await transport.close();
  });
});

describe('http-json reply helpers', () => {
  it('keeps our own error object when there is one, whatever the status', () => {
    const error = replyError(400, '{"error": {"code": "BAD_INPUT", "message": "no"}}', 'application/json', 'POST /echo');
    expect([error.code, error.message]).toEqual(['BAD_INPUT', 'no']);
  });

  it('reads an HTTP status as the wire code when the body does not carry one', () => {
    const codes = [400, 404, 405, 413, 422, 500, 501, 502, 302].map((status) => replyError(status, 'x', '', 'POST /p').code);
    expect(codes).toEqual(['BAD_INPUT', 'UNKNOWN_TYPE', 'UNKNOWN_TYPE', 'FRAME_TOO_LARGE', 'BAD_INPUT', 'INTERNAL', 'UNSUPPORTED_OP', 'INTERNAL', 'PROTOCOL_ERROR']);
  });

  it('shortens a page to its text', () => {
    expect(bodySnippet('<html><style>p {}</style><p>a &amp; b</p></html>', 'text/html')).toBe('a & b');
    expect(bodySnippet('x'.repeat(500), 'text/plain')).toHaveLength(203);
  });

  it('joins a list of strings and refuses anything else', () => {
    expect(responseText(['one', ' two'])).toBe('one two');
    expect(responseText('s')).toBe('s');
    expect(() => responseText(['a', 1])).toThrow(HarnessError);
    expect(() => responseText(undefined)).toThrow(HarnessError);
  });
});
