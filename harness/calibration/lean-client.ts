/**
 * The leanest Node client we know how to write for the echo of the `framed` and `msgpack` wires:
 * one net.Socket, one buffer built and written and one await per round trip, and no bookkeeping
 * beyond the length prefix (no multiplexing, no per-request timer). The `lean-node` rows measure
 * it on the same sidecar as the harness's own clients, in the same rounds: what the harness's
 * client costs beyond it is the harness's, not the IPC's. A deadline per block (not per request)
 * is the caller's, through `destroy`.
 */
import net from 'node:net';
import type { Address } from '../../transports/address.js';
import { HarnessError } from '../../transports/errors.js';
import type { CalibrationWire } from '../results.js';

export interface LeanClient {
  echo(payload: Uint8Array): Promise<Uint8Array>;
  /** Fail the request in flight with `error` and drop the connection. */
  destroy(error: HarnessError): void;
  close(): Promise<void>;
}

// msgpack `{"id": 1, "op": "echo", "payload": <bin 32>}` up to the payload's bytes.
const MSGPACK_HEAD = Uint8Array.from([0x83, 0xa2, 0x69, 0x64, 0x01, 0xa2, 0x6f, 0x70, 0xa4, 0x65, 0x63, 0x68, 0x6f, 0xa7, 0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0xc6]);

function frameFor(wire: CalibrationWire, payload: Uint8Array): Buffer {
  if (wire === 'framed') {
    const frame = Buffer.allocUnsafe(5 + payload.length);
    frame.writeUInt32BE(payload.length + 1, 0);
    frame[4] = 0;
    frame.set(payload, 5);
    return frame;
  }
  const head = 4 + MSGPACK_HEAD.length + 4;
  const frame = Buffer.allocUnsafe(head + payload.length);
  frame.writeUInt32BE(head - 4 + payload.length, 0);
  frame.set(MSGPACK_HEAD, 4);
  frame.writeUInt32BE(payload.length, 4 + MSGPACK_HEAD.length); // bin 32: one header shape for every size
  frame.set(payload, head);
  return frame;
}

export function connectLean(address: Address, wire: CalibrationWire): Promise<LeanClient> {
  return new Promise((resolve, reject) => {
    const socket = address.family === 'unix' ? net.createConnection({ path: address.path }) : net.createConnection({ host: address.host, port: address.port, noDelay: true });
    let chunks: Buffer[] = [];
    let have = 0;
    let need = -1;
    let expected = 0;
    let pending: { resolve: (body: Uint8Array) => void; reject: (error: HarnessError) => void } | undefined;
    let failure: HarnessError | undefined;
    const fail = (error: HarnessError): void => {
      failure ??= error;
      const p = pending;
      pending = undefined;
      p?.reject(failure);
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (need < 0 && have >= 4) need = 4 + (chunks.length === 1 ? chunk : Buffer.concat(chunks)).readUInt32BE(0);
      if (need < 0 || have < need) return;
      const frame = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      chunks = [];
      have = 0;
      need = -1;
      const p = pending;
      pending = undefined;
      // The echoed bytes end the reply on both wires; the caller's check compares them.
      p?.resolve(frame.subarray(Math.max(4, frame.length - expected)));
    });
    socket.once('error', (error) => {
      const wrapped = new HarnessError(pending === undefined && failure === undefined ? 'CONNECT_FAILED' : 'SIDECAR_CLOSED', `lean client: ${error.message}`, { cause: error });
      reject(wrapped);
      fail(wrapped);
    });
    socket.once('close', () => fail(new HarnessError('SIDECAR_CLOSED', 'lean client: the connection closed')));
    socket.once('connect', () =>
      resolve({
        echo(payload) {
          return new Promise((res, rej) => {
            if (failure !== undefined) return rej(failure);
            expected = payload.length;
            pending = { resolve: res, reject: rej };
            socket.write(frameFor(wire, payload));
          });
        },
        destroy(error) {
          fail(error);
          socket.destroy();
        },
        close() {
          return new Promise((done) => {
            if (socket.destroyed) return done();
            socket.once('close', () => done());
            socket.end();
            setTimeout(() => socket.destroy(), 1000).unref();
          });
        },
      }),
    );
  });
}
