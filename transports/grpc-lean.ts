/**
 * `lean-http2`: a minimal gRPC client on node:http2, the protocol's floor in Node (issue 15). Unary
 * and server-streaming calls on one HTTP/2 session per transport, speaking the wire grpc-js speaks:
 * POST to `/package.Service/Method`, `content-type: application/grpc`, `te: trailers`, length-
 * prefixed messages (grpc-lean-wire.ts), the outcome in the `grpc-status` / `grpc-message`
 * trailers (or a trailers-only reply), our own code in `sidecar-error-code`. A deadline goes to
 * the server as `grpc-timeout` and is kept here by a local timer too, which cancels the stream.
 * Messages are encoded and decoded by proto-loader's protobufjs serialisers, as grpc-js does.
 * No retries, no name resolution, no compression, no keep-alive pings: what is left is the protocol.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { HarnessError, toHarnessError } from './errors.js';
import { ERROR_CODE_KEY, type GrpcMethod } from './grpc-proto.js';
import type { GrpcCalls } from './grpc-ops.js';
import { createMessageParser, decodeGrpcMessage, frameMessage, grpcTimeout, statusOfHttp } from './grpc-lean-wire.js';
import { codeForStatus } from './grpc-status.js';
import { createDeadlines } from './deadlines.js';
import type { TransportOptions } from './types.js';

type Session = http2.ClientHttp2Session;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A stream or session failure as a HarnessError: a refused connection is CONNECT_FAILED, anything else a lost sidecar. */
function fromStreamError(error: unknown): HarnessError {
  const mapped = toHarnessError(error, 'SIDECAR_CLOSED');
  return mapped.code === 'INTERNAL' ? new HarnessError('SIDECAR_CLOSED', mapped.message, { cause: error }) : mapped;
}

export async function connectLeanHttp2(options: TransportOptions): Promise<GrpcCalls> {
  const { address, timeoutMs, maxFrameBytes } = options;
  const authority = address.family === 'unix' ? 'http://localhost' : `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  let session: Session | undefined;
  let closed = false;

  function open(): Session {
    const opened = http2.connect(authority, {
      settings: { enablePush: false },
      ...(address.family === 'unix' ? { createConnection: () => net.connect(address.path) } : {}),
    });
    // Each stream reports its own failure; a session that ends is replaced on the next call.
    opened.on('error', () => undefined);
    const forget = (): void => {
      if (session === opened) session = undefined;
    };
    opened.once('close', forget);
    opened.once('goaway', forget);
    return opened;
  }

  function current(): Session {
    if (session === undefined || session.destroyed || session.closed) session = open();
    return session;
  }

  // A peer that answers with HTTP/2 SETTINGS is there; anything else fails here, as grpc-js's READY wait does.
  await new Promise<void>((resolve, reject) => {
    const first = current();
    const onError = (error: Error): void => fail(error.message, error);
    const onClose = (): void => fail('the connection closed');
    const settle = (): void => {
      clearTimeout(timer);
      first.off('error', onError).off('close', onClose);
    };
    const fail = (why: string, cause?: unknown): void => {
      settle();
      first.destroy();
      reject(new HarnessError('CONNECT_FAILED', `Could not connect to the gRPC sidecar at ${authority}${address.family === 'unix' ? ` (${address.path})` : ''}: ${why}`, { cause }));
    };
    const timer = setTimeout(() => fail(`no HTTP/2 settings within ${timeoutMs} ms`), timeoutMs);
    first.once('remoteSettings', () => {
      settle();
      resolve();
    });
    first.once('error', onError);
    first.once('close', onClose);
  });

  // Per call, only what changes: the path. Node copies the headers object into its own list anyway.
  const deadline = grpcTimeout(timeoutMs);
  const headersOf = (path: string): http2.OutgoingHttpHeaders => ({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': deadline });
  // One timer for every call's deadline (deadlines.ts), not a setTimeout + clearTimeout per call.
  const deadlines = createDeadlines(timeoutMs);

  /** One call: the request message out, `onMessage` per reply message, settled by the call's status. */
  function call(method: GrpcMethod, argument: object, onMessage: (message: Buffer) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (closed) return reject(new HarnessError('SIDECAR_CLOSED', 'The gRPC transport is closed'));
      let message: Buffer;
      try {
        message = method.requestSerialize(argument);
      } catch (error) {
        return reject(new HarnessError('INTERNAL', `Could not encode the ${method.path} request: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
      }
      if (message.length > maxFrameBytes) {
        return reject(new HarnessError('FRAME_TOO_LARGE', `Expected a gRPC message of at most ${maxFrameBytes} bytes, got ${message.length}`));
      }
      let stream: http2.ClientHttp2Stream;
      try {
        stream = current().request(headersOf(method.path));
      } catch (error) {
        return reject(fromStreamError(error));
      }
      let settled = false;
      const settle = (error?: HarnessError): void => {
        if (settled) return;
        settled = true;
        timer.clear();
        if (error === undefined) return resolve();
        if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(error);
      };
      const timer = deadlines.start(() => settle(new HarnessError('TIMEOUT', `Expected ${method.path} to end within ${timeoutMs} ms, got no status`)));
      let status: number | undefined;
      let details = '';
      let sent: string | undefined;
      let httpStatus: number | undefined;
      const readStatus = (headers: http2.IncomingHttpHeaders): void => {
        const value = single(headers['grpc-status']);
        if (value === undefined) return;
        status = /^\d+$/.test(value) ? Number(value) : NaN;
        details = decodeGrpcMessage(single(headers['grpc-message']) ?? '');
        sent = single(headers[ERROR_CODE_KEY]);
      };
      /** The outcome, once the status and every DATA byte are here: at 'end' or 'close', whichever comes first. */
      const conclude = (): void => {
        if (settled) return;
        if (status === undefined && httpStatus !== undefined && httpStatus !== 200) status = statusOfHttp(httpStatus);
        if (status === undefined) return settle(new HarnessError('SIDECAR_CLOSED', `${method.path} ended with no gRPC status (stream reset ${stream.rstCode ?? 'none'})`));
        if (Number.isNaN(status)) return settle(new HarnessError('PROTOCOL_ERROR', `Expected a numeric grpc-status from ${method.path}`));
        if (status !== 0) return settle(new HarnessError(codeForStatus(status, details, sent), details === '' ? `${method.path} ended with gRPC status ${status}` : details, { details: { grpcStatus: status } }));
        if (parser.pendingBytes() > 0) return settle(new HarnessError('PROTOCOL_ERROR', `${method.path} ended in the middle of a message`));
        settle();
      };
      const parser = createMessageParser(maxFrameBytes, onMessage);
      stream.on('response', (headers) => {
        httpStatus = Number(headers[':status']);
        const type = single(headers['content-type']) ?? '';
        if (httpStatus === 200 && !type.startsWith('application/grpc')) settle(new HarnessError('PROTOCOL_ERROR', `Expected content-type application/grpc from ${method.path}, got ${JSON.stringify(type)}`));
        readStatus(headers); // a trailers-only reply carries the status in its headers
      });
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          parser.push(chunk);
        } catch (error) {
          settle(toHarnessError(error, 'PROTOCOL_ERROR'));
        }
      });
      stream.on('error', (error) => settle(fromStreamError(error)));
      // 'end' comes after the trailers (the END_STREAM flag is on them): settling here saves the ticks to 'close'.
      stream.on('end', () => {
        if (status !== undefined) conclude();
      });
      stream.on('close', conclude);
      stream.end(frameMessage(message));
    });
  }

  function decode(method: GrpcMethod, message: Buffer): Record<string, unknown> {
    try {
      return method.responseDeserialize(message);
    } catch (error) {
      throw new HarnessError('PROTOCOL_ERROR', `Could not decode the ${method.path} reply: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }

  return {
    async unary(method, argument) {
      const replies: Buffer[] = [];
      await call(method, argument, (message) => replies.push(message));
      if (replies.length !== 1) throw new HarnessError('PROTOCOL_ERROR', `Expected one reply message from unary ${method.path}, got ${replies.length}`);
      return decode(method, replies[0] as Buffer);
    },
    serverStream(method, argument, onMessage) {
      return call(method, argument, (message) => onMessage(decode(method, message)));
    },
    close() {
      closed = true;
      deadlines.stop();
      session?.destroy();
      session = undefined;
    },
  };
}
