/**
 * The lean-http2 gRPC client's own parts: message framing (a truncation loop), and the replies a
 * real grpcio sidecar never sends (compressed messages, a wrong content-type, no status, two
 * replies to a unary call, a server that ignores its deadline), from a node:http2 server written
 * for each fault. Its behaviour against real sidecars is in grpc.test.ts and contract.test.ts.
 */
import http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../harness/testing.js';
import { createGrpcTransport } from './grpc.js';
import { createMessageParser, decodeGrpcMessage, frameMessage, grpcTimeout } from './grpc-lean-wire.js';
import { loadMethods } from './grpc-proto.js';
import type { Transport } from './types.js';

describe('gRPC message framing', () => {
  const messages = [Buffer.alloc(0), Buffer.from([7]), Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff))];
  const wire = Buffer.concat(messages.map((m) => frameMessage(m)));

  it.each(Array.from({ length: wire.length + 1 }, (_, cut) => cut))('parses the messages split at byte %i', (cut) => {
    const out: Buffer[] = [];
    const parser = createMessageParser(1024, (m) => out.push(m));
    parser.push(wire.subarray(0, cut));
    parser.push(wire.subarray(cut));
    expect(out.map((m) => [...m])).toEqual(messages.map((m) => [...m]));
    expect(parser.pendingBytes()).toBe(0);
  });

  it('says when the stream ended mid-message, refuses a message over the limit and a compressed one', () => {
    const parser = createMessageParser(1024, () => undefined);
    parser.push(wire.subarray(0, wire.length - 1));
    expect(parser.pendingBytes()).toBeGreaterThan(0);
    expect(() => createMessageParser(299, () => undefined).push(wire)).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
    expect(() => createMessageParser(1024, () => undefined).push(Buffer.from([1, 0, 0, 0, 0]))).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }));
  });

  it('hands on a message that came whole in one chunk as a view (no copy), with the same limits', () => {
    const one = frameMessage(Buffer.alloc(300, 9));
    const out: Buffer[] = [];
    createMessageParser(300, (m) => out.push(m)).push(one);
    expect([out.length, out[0]?.length, out[0]?.buffer === one.buffer]).toEqual([1, 300, true]);
    expect(() => createMessageParser(299, () => undefined).push(one)).toThrow(expect.objectContaining({ code: 'FRAME_TOO_LARGE' }));
    expect(() => createMessageParser(1024, () => undefined).push(Buffer.concat([Buffer.of(1), one.subarray(1)]))).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }));
  });

  it('writes deadlines in at most 8 digits, never shorter, and reads percent-encoded messages', () => {
    expect(grpcTimeout(300)).toBe('300m');
    expect(grpcTimeout(12.2)).toBe('13m');
    expect(grpcTimeout(1e9)).toBe('1000000S');
    expect(decodeGrpcMessage('bad%20input%3A%20%E2%9C%93')).toBe('bad input: ✓');
    expect(decodeGrpcMessage('100%')).toBe('100%');
  });
});

type Behaviour = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, request: Buffer) => void;

describe('lean-http2 against a server that misbehaves', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-lean-'));
  const socketPath = path.join(dir, 'h2.sock');
  const seen: http2.IncomingHttpHeaders[] = [];
  let behaviour: Behaviour = () => undefined;
  const server = http2.createServer();
  let transport: Transport;
  const reply = (payload: Buffer): Buffer => frameMessage(loadMethods().Echo.responseSerialize({ payload }));

  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    seen.push(headers);
    const parts: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => parts.push(chunk));
    stream.on('end', () => behaviour(stream, headers, Buffer.concat(parts)));
    stream.on('error', () => undefined);
  });

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    transport = await createGrpcTransport({ address: { family: 'unix', path: socketPath }, timeoutMs: 400, maxFrameBytes: 1 << 20, grpcClient: 'lean-http2' });
  });

  afterAll(async () => {
    await transport.close();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("speaks gRPC's request headers and reads a reply whose status comes in the trailers", async () => {
    behaviour = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(reply(Buffer.from('ok')));
    };
    expect(Buffer.from(await transport.echo(Uint8Array.of(1))).toString()).toBe('ok');
    const headers = seen.at(-1) ?? {};
    expect([headers[':method'], headers[':path'], headers['content-type'], headers['te']]).toEqual(['POST', '/sidecar.v1.Sidecar/Echo', 'application/grpc', 'trailers']);
    expect(headers['grpc-timeout']).toBe('400m');
  });

  it.each<[string, Behaviour, string]>([
    ['a trailers-only error with our code', (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '3', 'grpc-message': 'no%20good', 'sidecar-error-code': 'MODEL_ERROR' }, { endStream: true }), 'MODEL_ERROR'],
    ['a status alone', (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '3' }, { endStream: true }), 'BAD_INPUT'],
    ['a reply that is not gRPC', (s) => s.respond({ ':status': 200, 'content-type': 'text/html' }, { endStream: true }), 'PROTOCOL_ERROR'],
    ['HTTP 404', (s) => s.respond({ ':status': 404 }, { endStream: true }), 'UNKNOWN_TYPE'],
    ['a stream that ends with no status', (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' });
      s.end();
    }, 'SIDECAR_CLOSED'],
    ['a reset stream', (s) => s.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 'SIDECAR_CLOSED'],
    ['two replies to a unary call', (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.concat([reply(Buffer.from('a')), reply(Buffer.from('b'))]));
    }, 'PROTOCOL_ERROR'],
    ['a compressed message', (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.from([1, 0, 0, 0, 0]));
    }, 'PROTOCOL_ERROR'],
    ['a message cut short', (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(Buffer.concat([reply(Buffer.from('abc')), reply(Buffer.from('d')).subarray(0, 3)])); // one whole message, then part of one
    }, 'PROTOCOL_ERROR'],
    ['no reply at all, past the deadline', () => undefined, 'TIMEOUT'],
  ])('fails %s with the right code, and the next call still works', async (_case, misbehave, code) => {
    behaviour = misbehave;
    const started = performance.now();
    expect(await codeOf(transport.echo(Uint8Array.of(1)))).toBe(code);
    expect(performance.now() - started).toBeLessThan(2000);
    behaviour = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(reply(Buffer.from('fine')));
    };
    expect(Buffer.from(await transport.echo(Uint8Array.of(1))).toString()).toBe('fine');
  });
});
