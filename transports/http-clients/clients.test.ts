/**
 * The three HTTP client adapters against a node:http server written for each fault a real sidecar
 * does not produce on demand: a body that stops half-way, a connection cut mid-body, a reply over
 * the size limit with no Content-Length, and close() while a request is in flight. Every adapter
 * must give the same codes (their behaviour against real sidecars: http-json.test.ts).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../harness/testing.js';
import { HTTP_CLIENTS } from '../types.js';
import { loadHttpClient } from './index.js';
import type { HttpClient } from './types.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'http-clients-'));
const socketPath = path.join(dir, 'h1.sock');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.url === '/half') {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345'); // and nothing more
    } else if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345', () => res.socket?.destroy());
    } else if (req.url === '/big') {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write('x'.repeat(600));
      res.end('y'.repeat(600));
    } else if (req.url === '/slow') {
      setTimeout(() => res.end('late'), 150);
    } else {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-Mixed-Case': 'v' });
      res.end(`${req.method} ${req.url} ${req.headers['content-length'] ?? '-'}`);
    }
  });
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe.each(HTTP_CLIENTS)('the %s adapter', (name) => {
  let client: HttpClient;
  beforeAll(async () => {
    client = (await loadHttpClient(name))({ address: { family: 'unix', path: socketPath }, timeoutMs: 300, maxResponseBytes: 1000, keepAliveMs: 60_000 });
  });
  afterAll(async () => {
    await client.destroy();
  });

  it('sends the body with its length and reads status, lower-case headers and text', async () => {
    const reply = await client.request({ method: 'POST', path: '/x', headers: { 'content-type': 'text/plain' }, body: Buffer.from('hello') });
    expect([reply.statusCode, reply.headers['x-mixed-case'], await reply.text()]).toEqual([200, 'v', 'POST /x 5']);
    const get = await client.request({ method: 'GET', path: '/y', headers: {}, body: null });
    expect(Buffer.from(await get.bytes()).toString()).toMatch(/^GET \/y /);
  });

  it.each([
    ['a body that stops half-way', '/half', 'TIMEOUT'],
    ['a connection cut mid-body', '/cut', 'SIDECAR_CLOSED'],
    ['a chunked body over the limit', '/big', 'FRAME_TOO_LARGE'],
  ])('fails %s (%s) with %s, and serves the next request', async (_case, route, code) => {
    const started = performance.now();
    const reply = client.request({ method: 'GET', path: route, headers: {}, body: null });
    expect(await codeOf(reply.then((r) => r.bytes()))).toBe(code);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await (await client.request({ method: 'GET', path: '/ok', headers: {}, body: null })).text()).toMatch(/^GET \/ok/);
  });

  it('streams a body in chunks as they arrive', async () => {
    const reply = await client.request({ method: 'GET', path: '/x', headers: {}, body: null });
    let text = '';
    for await (const chunk of reply.chunks()) text += Buffer.from(chunk).toString();
    expect(text).toBe('GET /x -');
  });

  it('lets a request in flight finish on close()', async () => {
    const own = (await loadHttpClient(name))({ address: { family: 'unix', path: socketPath }, timeoutMs: 2000, maxResponseBytes: 1000, keepAliveMs: 60_000 });
    const pending = own.request({ method: 'GET', path: '/slow', headers: {}, body: null }).then((r) => r.text());
    await new Promise((resolve) => setTimeout(resolve, 20));
    await own.close();
    expect(await pending).toBe('late');
  });
});
