/**
 * gRPC's message framing over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md), as pure functions for the
 * lean-http2 client: each message is `[u8 compressed][u32 BE length][length bytes]`; the deadline
 * travels as `grpc-timeout`; `grpc-message` is percent-encoded.
 */
import { HarnessError } from './errors.js';

const PREFIX_BYTES = 5;

/** One message with its length prefix (never compressed: the client offers no encoding). */
export function frameMessage(message: Uint8Array): Buffer {
  const framed = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  framed.set(message, PREFIX_BYTES);
  return framed;
}

/**
 * Incremental message parsing: `push` takes DATA bytes in any split and calls `onMessage` per whole
 * message. A message over `maxBytes` (FRAME_TOO_LARGE) or a compressed one (PROTOCOL_ERROR: we
 * offered no encoding) throws; `pendingBytes` says whether the stream ended mid-message.
 */
export function createMessageParser(maxBytes: number, onMessage: (message: Buffer) => void): { push(chunk: Uint8Array): void; pendingBytes(): number } {
  let pending: Buffer = Buffer.alloc(0);
  return {
    push(chunk) {
      if (pending.length === 0) {
        const view = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        // The common case, one whole message in one DATA chunk: handed on as a view, no copy.
        if (view.length >= PREFIX_BYTES && view[0] === 0 && view.length === PREFIX_BYTES + view.readUInt32BE(1) && view.length - PREFIX_BYTES <= maxBytes) {
          onMessage(view.subarray(PREFIX_BYTES));
          return;
        }
        pending = view;
      } else pending = Buffer.concat([pending, chunk]);
      while (pending.length >= PREFIX_BYTES) {
        const flag = pending[0];
        const length = pending.readUInt32BE(1);
        if (flag !== 0) throw new HarnessError('PROTOCOL_ERROR', `Expected an uncompressed gRPC message (flag 0), got flag ${flag}`);
        if (length > maxBytes) throw new HarnessError('FRAME_TOO_LARGE', `Expected a gRPC message of at most ${maxBytes} bytes, got ${length}`);
        if (pending.length < PREFIX_BYTES + length) break;
        // A copy, so a decoded message does not pin the whole DATA chunk it came in.
        onMessage(Buffer.from(pending.subarray(PREFIX_BYTES, PREFIX_BYTES + length)));
        pending = pending.subarray(PREFIX_BYTES + length);
      }
    },
    pendingBytes: () => pending.length,
  };
}

/** `grpc-timeout` for `ms`: at most 8 digits, so long deadlines go in seconds (rounded up: never shorter). */
export function grpcTimeout(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  return whole <= 99_999_999 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}

/** `grpc-message` as text: percent-decoded, and kept as sent when the encoding is broken. */
export function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** An HTTP status other than 200 as the gRPC status the protocol assigns it (doc/http-grpc-status-mapping.md). */
export function statusOfHttp(httpStatus: number): number {
  if (httpStatus === 400) return 13; // INTERNAL
  if (httpStatus === 401) return 16; // UNAUTHENTICATED
  if (httpStatus === 403) return 7; // PERMISSION_DENIED
  if (httpStatus === 404) return 12; // UNIMPLEMENTED
  if ([429, 502, 503, 504].includes(httpStatus)) return 14; // UNAVAILABLE
  return 2; // UNKNOWN
}
