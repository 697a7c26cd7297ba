/**
 * The `msgpack` wire: `[u32 BE N][msgpack map]` over the socket layer shared with `framed`. Every
 * request carries an `id` and every reply echoes it, so replies are matched by id in any order
 * (docs/protocol.md).
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { fromWireError, HarnessError } from './errors.js';
import { generateFields } from './generate-fields.js';
import { HEADER_BYTES } from './framing.js';
import { readModelMetadata } from './model-metadata.js';
import { inferReply, wireTensor } from './msgpack-tensors.js';
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
  readonly outputs?: unknown;
  readonly metadata?: unknown;
  readonly error?: unknown;
}

/** Ids wrap before 2^32, so they always encode as msgpack uint 8/16/32; 0 is never used. */
const MAX_ID = 0xffff_ffff;

// Plain msgpack maps, not msgpackr records: the Python sidecar reads standard msgpack only, and
// records did not pay for these small maps (transports/bench/codecs.bench.ts).
// A plain Uint8Array packs as msgpack bin as long as `moreTypes` stays off.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

// Echo is the measured hot path, and its request and reply each have one fixed shape, so they are
// written and read by hand (plain msgpack, checked against msgpackr and the sidecar in the tests).
// In interleaved runs (3072-byte echo p50, 2 cores) that put msgpack at 1.06-1.20x framed, where
// msgpackr on this path gave 1.23-1.52x. Everything else, and any reply of another shape, goes
// through msgpackr.
const ECHO_REQUEST_KEYS = Uint8Array.from([0xa2, ...bytesOf('op'), 0xa4, ...bytesOf('echo'), 0xa7, ...bytesOf('payload')]);
const ID_KEY = Uint8Array.from([0xa2, ...bytesOf('id')]);
const PAYLOAD_KEY = Uint8Array.from([0xa7, ...bytesOf('payload')]);
// Below this size one copy into a single buffer is cheaper than a corked two-buffer write.
const JOIN_BELOW_BYTES = 64 * 1024;
// msgpack's tags for a 1-, 2- and 4-byte big-endian length or value (uint 8/16/32, bin 8/16/32).
const UINT_TAGS = [0xcc, 0xcd, 0xce] as const;
const BIN_TAGS = [0xc4, 0xc5, 0xc6] as const;
type Tags = typeof UINT_TAGS | typeof BIN_TAGS;

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

/** The frame(s) for `{"id": id, "op": "echo", "payload": payload}`; a large payload is not copied. */
export function encodeEchoFrame(id: number, payload: Uint8Array): Uint8Array[] {
  const size = payload.length;
  const head = HEADER_BYTES + 1 + ID_KEY.length + uintBytes(id) + ECHO_REQUEST_KEYS.length + binHeaderBytes(size);
  const joined = size < JOIN_BELOW_BYTES;
  const out = Buffer.allocUnsafe(joined ? head + size : head);
  out.writeUInt32BE(head - HEADER_BYTES + size, 0);
  out[HEADER_BYTES] = 0x83; // fixmap, 3 entries
  out.set(ID_KEY, HEADER_BYTES + 1);
  let at = writeUint(out, HEADER_BYTES + 1 + ID_KEY.length, id);
  out.set(ECHO_REQUEST_KEYS, at);
  at = writeBinHeader(out, at + ECHO_REQUEST_KEYS.length, size);
  if (!joined) return [out, payload];
  out.set(payload, at);
  return [out];
}

/** `{"id": uint, "payload": bin}` read in place; undefined when `body` has any other shape. */
export function decodeEchoReply(body: Uint8Array): WireReply | undefined {
  // A two-entry map: fixmap, or map16 as msgpackr writes it. Bytes read past the end are
  // undefined and turn into 0 or NaN, so the final length check fails.
  let at = body[0] === 0x82 ? 1 : body[0] === 0xde && body[1] === 0 && body[2] === 2 ? 3 : 0;
  if (at === 0 || !startsWith(body, ID_KEY, at)) return undefined;
  at += ID_KEY.length;
  const id = readUint(body, at, UINT_TAGS);
  if (id === undefined) return undefined;
  at += tagWidth(body[at]!, UINT_TAGS);
  if (!startsWith(body, PAYLOAD_KEY, at)) return undefined;
  at += PAYLOAD_KEY.length;
  const size = readUint(body, at, BIN_TAGS);
  if (size === undefined) return undefined;
  at += tagWidth(body[at]!, BIN_TAGS);
  if (at + size !== body.length) return undefined;
  return { id, payload: body.subarray(at) };
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
        reply = decodeEchoReply(body) ?? decodeReply(body);
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

  function request(id: number, frames: Uint8Array[], onPart?: (part: WireReply) => void): Promise<WireReply> {
    return new Promise<WireReply>((resolve, reject) => {
      if (socket.closed) {
        reject(new HarnessError('SIDECAR_CLOSED', 'The connection to the sidecar is closed'));
        return;
      }
      inFlight.add(id, resolve, reject, onPart);
      socket.write(frames);
    });
  }

  async function generateWith(params: GenerateParams, onText?: (text: string) => void): Promise<GenerateReply> {
    const id = nextId();
    const stream = onText !== undefined;
    const onPart = stream ? (part: WireReply) => onText(String(part.token)) : undefined;
    const reply = await request(id, [encodeFrame({ id, op: 'generate', ...generateFields(params), stream })], onPart);
    if (typeof reply.response !== 'string') throw new HarnessError('PROTOCOL_ERROR', 'Expected `response` in the generate reply');
    return { response: reply.response, stats: toGenerateStats(reply.stats) };
  }

  const transport: Transport = {
    name: 'msgpack',
    async infer(inputs) {
      const id = nextId();
      const frame = encodeFrame({ id, op: 'infer', inputs: inputs.map(wireTensor) });
      if (frame.length - HEADER_BYTES > options.maxFrameBytes) throw new HarnessError('FRAME_TOO_LARGE', `Expected an infer request of at most ${options.maxFrameBytes} bytes, got ${frame.length - HEADER_BYTES}`);
      return inferReply(await request(id, [frame]));
    },
    async metadata() {
      const id = nextId();
      return readModelMetadata((await request(id, [encodeFrame({ id, op: 'metadata' })])).metadata);
    },
    async echo(payload) {
      const id = nextId();
      return expectBin(await request(id, encodeEchoFrame(id, payload)), 'payload');
    },
    async classify(images): Promise<ClassifyReply> {
      const id = nextId();
      const reply = await request(id, [encodeFrame({ id, op: 'classify', images })]);
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

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function startsWith(body: Uint8Array, bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < bytes.length; i++) if (body[at + i] !== bytes[i]) return false;
  return true;
}

function uintBytes(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function binHeaderBytes(size: number): number {
  return size < 0x100 ? 2 : size < 0x10000 ? 3 : 5;
}

/** Write `n` (below 2^32) as the smallest msgpack uint at `at`; returns the position after it. */
function writeUint(out: Buffer, at: number, n: number): number {
  if (n < 0x80) {
    out[at] = n;
    return at + 1;
  }
  const width = uintBytes(n) - 1;
  out[at] = width === 1 ? 0xcc : width === 2 ? 0xcd : 0xce;
  out.writeUIntBE(n, at + 1, width);
  return at + 1 + width;
}

function writeBinHeader(out: Buffer, at: number, size: number): number {
  const width = binHeaderBytes(size) - 1;
  out[at] = width === 1 ? 0xc4 : width === 2 ? 0xc5 : 0xc6;
  out.writeUIntBE(size, at + 1, width);
  return at + 1 + width;
}

/** Bytes taken by the tag at a position and what follows it; positive fixints are 1 byte. */
function tagWidth(tag: number, tags: Tags): number {
  if (tags === UINT_TAGS && tag < 0x80) return 1;
  return tag === tags[0] ? 2 : tag === tags[1] ? 3 : 5;
}

/** The value or length under one of `tags` (or a positive fixint for uint) at `at`, else undefined. */
function readUint(body: Uint8Array, at: number, tags: Tags): number | undefined {
  const tag = body[at]!;
  if (tags === UINT_TAGS && tag < 0x80) return tag;
  if (tag === tags[0]) return body[at + 1]!;
  if (tag === tags[1]) return (body[at + 1]! << 8) | body[at + 2]!;
  if (tag === tags[2]) return body[at + 1]! * 0x100_0000 + ((body[at + 2]! << 16) | (body[at + 3]! << 8) | body[at + 4]!);
  return undefined;
}
