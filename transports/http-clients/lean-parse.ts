/**
 * The lean client's HTTP/1.1 response parser (RFC 9112), as a pure incremental function in the
 * msgpackr way: `push` takes bytes in any split and calls back per head, body piece and end of a
 * response; `closed` says whether a connection's end also ends the reply (a body delimited by
 * close). Bodies by Content-Length, `chunked` (extensions and trailers skipped), or until close;
 * 1xx interim replies skipped; 204 and 304 have none. Malformed input throws PROTOCOL_ERROR.
 */
import { HarnessError } from '../errors.js';
import type { HttpHeaders } from './types.js';

export interface ResponseHead {
  readonly statusCode: number;
  readonly headers: HttpHeaders;
  /** The server keeps the connection open after this reply (HTTP/1.1 without `Connection: close`). */
  readonly keepAlive: boolean;
  /** The declared Content-Length, or undefined for chunked and close-delimited bodies. */
  readonly contentLength: number | undefined;
}

export interface ResponseEvents {
  head(head: ResponseHead): void;
  body(piece: Buffer): void;
  end(): void;
}

export interface ResponseParser {
  push(chunk: Buffer): void;
  /** The connection ended: true when that completes the reply in progress (or none was in progress). */
  closed(): boolean;
  /** Whether a reply has started (any of its bytes arrived) and not ended. */
  inProgress(): boolean;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** The most head (status line and headers, or a chunk-size line) we hold before calling it broken. */
export const MAX_HEAD_BYTES = 64 * 1024;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const broken = (what: string): HarnessError => new HarnessError('PROTOCOL_ERROR', `Expected an HTTP/1.1 reply, got ${what}`);

function parseHead(text: string): ResponseHead & { mode: 'none' | 'length' | 'chunked' | 'close'; interim: boolean } {
  const lines = text.split('\r\n');
  const status = STATUS_LINE.exec(lines[0] ?? '');
  if (status === null) throw broken(`the status line ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const statusCode = Number(status[2]);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    if (colon <= 0 || !TOKEN.test(name)) throw broken(`the header line ${JSON.stringify(line.slice(0, 80))}`);
    const value = line.slice(colon + 1).trim();
    const seen = headers[name];
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  const connection = String(headers['connection'] ?? '').toLowerCase();
  const keepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
  const interim = statusCode >= 100 && statusCode < 200 && statusCode !== 101;
  const encoding = headers['transfer-encoding'];
  const length = headers['content-length'];
  let mode: 'none' | 'length' | 'chunked' | 'close' = 'close';
  let contentLength: number | undefined;
  if (interim || statusCode === 204 || statusCode === 304) mode = 'none';
  else if (encoding !== undefined) {
    if (!/(^|,)\s*chunked\s*$/i.test(String(encoding))) throw broken(`a Transfer-Encoding of ${JSON.stringify(encoding)}`);
    mode = 'chunked';
  } else if (length !== undefined) {
    const values = new Set(String(length).split(',').map((v) => v.trim()));
    const [only] = values;
    if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) throw broken(`a Content-Length of ${JSON.stringify(length)}`);
    contentLength = Number(only);
    mode = 'length';
  }
  return { statusCode, headers, keepAlive: keepAlive && mode !== 'close', contentLength, mode, interim };
}

export function createResponseParser(events: ResponseEvents): ResponseParser {
  type State = 'head' | 'length' | 'close' | 'size' | 'data' | 'data-end' | 'trailers';
  let state: State = 'head';
  let pending: Buffer = Buffer.alloc(0);
  let remaining = 0;

  const finish = (): void => {
    state = 'head';
    events.end();
  };

  /** A line (CRLF-ended) or head (blank-line-ended) from `pending`, or undefined until it is all here. */
  function take(end: Buffer): string | undefined {
    const at = pending.indexOf(end);
    if (at < 0) {
      if (pending.length > MAX_HEAD_BYTES) throw broken(`more than ${MAX_HEAD_BYTES} bytes of head or chunk-size line`);
      return undefined;
    }
    const text = pending.toString('latin1', 0, at);
    pending = pending.subarray(at + end.length);
    return text;
  }

  /** Body bytes for a counted state: passes on what is here, up to `remaining`. */
  function counted(): void {
    const piece = pending.length <= remaining ? pending : pending.subarray(0, remaining);
    pending = pending.subarray(piece.length);
    remaining -= piece.length;
    if (piece.length > 0) events.body(piece);
  }

  function step(): boolean {
    switch (state) {
      case 'head': {
        const text = take(HEAD_END);
        if (text === undefined) return false;
        const head = parseHead(text);
        if (head.interim) return true;
        events.head(head);
        if (head.mode === 'none' || (head.mode === 'length' && head.contentLength === 0)) finish();
        else if (head.mode === 'length') [state, remaining] = ['length', head.contentLength ?? 0];
        else state = head.mode === 'chunked' ? 'size' : 'close';
        return true;
      }
      case 'length':
      case 'data':
        counted();
        if (remaining > 0) return false;
        if (state === 'length') finish();
        else state = 'data-end';
        return true;
      case 'close':
        if (pending.length > 0) events.body(pending);
        pending = Buffer.alloc(0);
        return false;
      case 'size': {
        const line = take(CRLF);
        if (line === undefined) return false;
        const size = /^([0-9A-Fa-f]{1,12})[ \t]*(;.*)?$/.exec(line);
        if (size?.[1] === undefined) throw broken(`the chunk-size line ${JSON.stringify(line.slice(0, 80))}`);
        remaining = parseInt(size[1], 16);
        state = remaining === 0 ? 'trailers' : 'data';
        return true;
      }
      case 'data-end': {
        if (pending.length < 2) return false;
        if (pending[0] !== 0x0d || pending[1] !== 0x0a) throw broken('a chunk not followed by CRLF');
        pending = pending.subarray(2);
        state = 'size';
        return true;
      }
      case 'trailers': {
        const line = take(CRLF);
        if (line === undefined) return false;
        if (line === '') finish();
        return true;
      }
    }
  }

  return {
    push(chunk) {
      if (chunk.length === 0) return;
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (step());
    },
    closed: () => {
      if (state === 'close') {
        finish();
        return true;
      }
      return state === 'head' && pending.length === 0;
    },
    inProgress: () => state !== 'head' || pending.length > 0,
  };
}
