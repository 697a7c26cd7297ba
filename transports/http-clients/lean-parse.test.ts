/**
 * The lean client's response parser on its own, msgpackr's way: every reply shape, split at every
 * byte (a truncation loop) and fed byte by byte, gives the same head, body and end; malformed
 * heads fail with PROTOCOL_ERROR. (Against servers: clients.test.ts, http-json.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../harness/testing.js';
import { createResponseParser, MAX_HEAD_BYTES, type ResponseHead } from './lean-parse.js';

interface Parsed {
  heads: ResponseHead[];
  bodies: string[];
  ends: number;
}

function parse(pieces: Buffer[], close = false): Parsed {
  const out: Parsed = { heads: [], bodies: [], ends: 0 };
  let body = '';
  const parser = createResponseParser({
    head: (head) => out.heads.push(head),
    body: (piece) => (body += piece.toString('latin1')),
    end: () => {
      out.bodies.push(body);
      body = '';
      out.ends += 1;
    },
  });
  for (const piece of pieces) parser.push(piece);
  if (close) parser.closed();
  return out;
}

const LENGTH = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nX-A: 1\r\nx-a: 2\r\n\r\n{"ok":true}';
const CHUNKED = 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6;ext=1\r\ndata: \r\nA\r\n{"t":"hi"}\r\n0\r\nx-trailer: y\r\n\r\n';
const INTERIM = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n';
const TWO = `${LENGTH}HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`;

describe('the lean HTTP/1.1 response parser', () => {
  const cases: [string, string, boolean, Parsed][] = [
    ['a Content-Length body', LENGTH, false, { heads: [expect.objectContaining({ statusCode: 200, keepAlive: true, contentLength: 11 })], bodies: ['{"ok":true}'], ends: 1 }],
    ['a chunked body with an extension and trailers', CHUNKED, false, { heads: [expect.objectContaining({ statusCode: 200, contentLength: undefined })], bodies: ['data: {"t":"hi"}'], ends: 1 }],
    ['a 100 Continue before a 204', INTERIM, false, { heads: [expect.objectContaining({ statusCode: 204 })], bodies: [''], ends: 1 }],
    ['two replies back to back', TWO, false, { heads: [expect.objectContaining({ statusCode: 200 }), expect.objectContaining({ statusCode: 400, keepAlive: false })], bodies: ['{"ok":true}', '{}'], ends: 2 }],
    ['a body delimited by close', 'HTTP/1.1 200 OK\r\n\r\nuntil the end', true, { heads: [expect.objectContaining({ keepAlive: false })], bodies: ['until the end'], ends: 1 }],
  ];

  it.each(cases)('reads %s split at every byte, and byte by byte', (_name, wire, close, expected) => {
    const bytes = Buffer.from(wire, 'latin1');
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(parse([bytes.subarray(0, cut), bytes.subarray(cut)], close), `split at ${cut}`).toEqual(expected);
    }
    expect(parse([...bytes].map((b) => Buffer.of(b)), close)).toEqual(expected);
  });

  it('keeps header names lower case, repeated headers as a list', () => {
    const [head] = parse([Buffer.from(LENGTH)]).heads;
    expect(head?.headers).toEqual({ 'content-type': 'application/json', 'content-length': '11', 'x-a': ['1', '2'] });
  });

  it('waits, with no end, for a reply cut short, and says so when the connection closes', () => {
    const bytes = Buffer.from(CHUNKED, 'latin1');
    for (let cut = 1; cut < bytes.length; cut++) {
      const parser = createResponseParser({ head: () => undefined, body: () => undefined, end: () => expect.unreachable(`an end at ${cut}`) });
      parser.push(bytes.subarray(0, cut));
      expect(parser.inProgress()).toBe(true);
      expect(parser.closed(), `closed at ${cut}`).toBe(false);
    }
  });

  it.each([
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n'],
    ['a header line with no colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n'],
    ['a Transfer-Encoding other than chunked', 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n'],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'],
    ['a chunk not followed by CRLF', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\naXY'],
    ['a head longer than the limit', `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(MAX_HEAD_BYTES)}`],
  ])('fails %s with PROTOCOL_ERROR', async (_name, wire) => {
    expect(await codeOf(Promise.resolve().then(() => parse([Buffer.from(wire, 'latin1')])))).toBe('PROTOCOL_ERROR');
  });
});
