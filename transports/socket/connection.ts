/**
 * The socket layer shared by the framed and msgpack transports: connect over unix or tcp, write
 * length-prefixed frames, hand whole frame bodies to the codec. Only the codec differs per wire.
 */
import net from 'node:net';
import { HarnessError, toHarnessError } from '../errors.js';
import type { Address } from '../address.js';
import { createFrameDecoder } from '../framing.js';

export interface FrameSocket {
  /** Buffers written together (one writev); each call is one or more whole frames. */
  write(buffers: readonly Uint8Array[]): void;
  /** Destroy the socket; pending work is failed by the owner through `onClose`. */
  destroy(error?: HarnessError): void;
  close(): Promise<void>;
  readonly closed: boolean;
}

export interface FrameSocketHandlers {
  onFrame(body: Uint8Array): void;
  /** Called once, when the connection ends for any reason; `error` says why. */
  onClose(error: HarnessError): void;
}

export async function connectFrameSocket(address: Address, maxFrameBytes: number, handlers: FrameSocketHandlers): Promise<FrameSocket> {
  const socket = await openSocket(address);
  const decoder = createFrameDecoder(maxFrameBytes);
  let closed = false;
  let closeError: HarnessError | undefined;

  const finish = (error: HarnessError): void => {
    if (closed) return;
    closed = true;
    handlers.onClose(error);
  };

  socket.on('data', (chunk: Buffer) => {
    let frames: Uint8Array[];
    try {
      frames = decoder.push(chunk);
    } catch (error) {
      socket.destroy();
      finish(toHarnessError(error, 'PROTOCOL_ERROR'));
      return;
    }
    for (const frame of frames) handlers.onFrame(frame);
  });
  socket.on('error', (error) => {
    closeError ??= new HarnessError('SIDECAR_CLOSED', `Connection to the sidecar failed: ${error.message}`, { cause: error });
  });
  socket.on('close', () => {
    finish(closeError ?? new HarnessError('SIDECAR_CLOSED', 'The sidecar closed the connection'));
  });

  return {
    write(buffers) {
      if (closed) throw closeError ?? new HarnessError('SIDECAR_CLOSED', 'The connection is closed');
      if (buffers.length === 1) {
        socket.write(buffers[0] as Uint8Array);
        return;
      }
      socket.cork();
      for (const buffer of buffers) socket.write(buffer);
      socket.uncork();
    },
    destroy(error) {
      if (error !== undefined) closeError ??= error;
      socket.destroy();
    },
    close() {
      if (closed) return Promise.resolve();
      closeError ??= new HarnessError('SIDECAR_CLOSED', 'The connection was closed by the client');
      return new Promise((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    },
    get closed() {
      return closed;
    },
  };
}

function openSocket(address: Address): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      address.family === 'unix'
        ? net.createConnection({ path: address.path })
        : net.createConnection({ host: address.host, port: address.port, noDelay: true });
    const onError = (error: Error): void => {
      reject(new HarnessError('CONNECT_FAILED', `Could not connect to the sidecar: ${error.message}`, { cause: error }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
