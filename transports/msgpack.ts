/**
 * The `msgpack` wire: `[u32 BE N][msgpack map]` over the socket layer shared with `framed`. Every
 * request carries an `id` and every reply echoes it, so replies are matched by id in any order
 * (docs/protocol.md).
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { fromWireError, HarnessError } from '../harness/errors.js';
import { generateFields } from './framed.js';
import { HEADER_BYTES } from './framing.js';
import { connectFrameSocket } from './socket/connection.js';
import { createInFlight } from './socket/in-flight.js';
import type { ClassifyReply, GenerateParams, GenerateReply, Transport, TransportFactory } from './types.js';
import { toGenerateStats } from './types.js';

/** A decoded reply map; which fields are set depends on the request's op. */
export interface WireReply {
  readonly id?: unknown;
  readonly payload?: unknown;
  readonly labels?: unknown;
  readonly compute_ns?: unknown;
  readonly response?: unknown;
  readonly stats?: unknown;
  readonly token?: unknown;
  readonly done?: unknown;
  readonly error?: unknown;
}

/** Ids wrap before 2^32, so they always encode as msgpack uint 8/16/32; 0 is never used. */
const MAX_ID = 0xffff_ffff;

// Plain msgpack maps, not msgpackr records: the Python sidecar reads standard msgpack only, and
// records did not pay for these small three-key maps (transports/bench/codecs.bench.ts).
// A plain Uint8Array packs as msgpack bin as long as `moreTypes` stays off.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * One whole frame for `message`: msgpackr reserves the 4 header bytes in front of the map, so the
 * length is written in place and the frame goes out with no further copy.
 */
export function encodeFrame(message: Readonly<Record<string, unknown>>): Uint8Array {
  const frame: Uint8Array = packr.pack(message, RESERVE_START_SPACE | HEADER_BYTES);
  const length = frame.length - HEADER_BYTES;
  frame[0] = length >>> 24;
  frame[1] = (length >>> 16) & 0xff;
  frame[2] = (length >>> 8) & 0xff;
  frame[3] = length & 0xff;
  return frame;
}

export function decodeReply(body: Uint8Array): WireReply {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch (error) {
    throw new HarnessError('PROTOCOL_ERROR', `Expected a msgpack map, got ${body.length} bytes that do not decode`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HarnessError('PROTOCOL_ERROR', `Expected a msgpack map, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value as WireReply;
}

export const createMsgpackTransport: TransportFactory = async (options) => {
  let lastId = 0;
  const inFlight = createInFlight<WireReply>(options.timeoutMs, (error) => socket.destroy(error));
  const socket = await connectFrameSocket(options.address, options.maxFrameBytes, {
    onFrame(body) {
      let reply: WireReply;
      try {
        reply = decodeReply(body);
      } catch (error) {
        socket.destroy(error as HarnessError);
        return;
      }
      const id = reply.id;
      if (typeof id !== 'number') {
        // The sidecar could not read some request (no usable id): whichever it was will never be
        // answered, so the connection is given up, with the sidecar's reason when it sent one.
        socket.destroy(reply.error !== undefined ? fromWireError(reply.error) : new HarnessError('PROTOCOL_ERROR', 'Expected an `id` in the reply'));
        return;
      }
      if (reply.token !== undefined && reply.error === undefined) {
        inFlight.get(id)?.onPart?.(reply);
        return;
      }
      const waiter = inFlight.take(id);
      if (waiter === undefined) socket.destroy(new HarnessError('PROTOCOL_ERROR', `Expected a reply to a request in flight, got id ${id}`));
      else if (reply.error !== undefined) waiter.reject(fromWireError(reply.error));
      else waiter.resolve(reply);
    },
    onClose(error) {
      inFlight.failAll(error);
    },
  });

  function nextId(): number {
    lastId = lastId === MAX_ID ? 1 : lastId + 1;
    return lastId;
  }

  function request(id: number, message: Readonly<Record<string, unknown>>, onPart?: (part: WireReply) => void): Promise<WireReply> {
    return new Promise<WireReply>((resolve, reject) => {
      if (socket.closed) {
        reject(new HarnessError('SIDECAR_CLOSED', 'The connection to the sidecar is closed'));
        return;
      }
      inFlight.add(id, onPart === undefined ? { resolve, reject } : { resolve, reject, onPart });
      socket.write([encodeFrame(message)]);
    });
  }

  async function generateWith(params: GenerateParams, onText?: (text: string) => void): Promise<GenerateReply> {
    const id = nextId();
    const stream = onText !== undefined;
    const onPart = stream ? (part: WireReply) => onText(String(part.token)) : undefined;
    const reply = await request(id, { id, op: 'generate', ...generateFields(params), stream }, onPart);
    if (typeof reply.response !== 'string') throw new HarnessError('PROTOCOL_ERROR', 'Expected `response` in the generate reply');
    return { response: reply.response, stats: toGenerateStats(reply.stats) };
  }

  const transport: Transport = {
    name: 'msgpack',
    async echo(payload) {
      const id = nextId();
      return expectBin(await request(id, { id, op: 'echo', payload }), 'payload');
    },
    async classify(images): Promise<ClassifyReply> {
      const id = nextId();
      const reply = await request(id, { id, op: 'classify', images });
      const labels = expectBin(reply, 'labels');
      return typeof reply.compute_ns === 'number' ? { labels, computeNs: reply.compute_ns } : { labels };
    },
    generate: (params) => generateWith(params),
    generateStream: (params, onText) => generateWith(params, onText),
    close: () => socket.close(),
  };
  return transport;
};

function expectBin(reply: WireReply, key: 'payload' | 'labels'): Uint8Array {
  const value = reply[key];
  if (!(value instanceof Uint8Array)) throw new HarnessError('PROTOCOL_ERROR', `Expected \`${key}\` as msgpack bin in the reply, got ${typeof value}`);
  return value;
}
