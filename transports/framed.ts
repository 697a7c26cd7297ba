/**
 * The `framed` wire: `[u32 BE N][u8 type][N-1 bytes body]` over one connection; replies come in
 * request order, so they are matched first-in first-out (docs/protocol.md).
 */
import { fromWireError, HarnessError } from './errors.js';
import { connectFrameSocket } from './socket/connection.js';
import { decodeInferReply, encodeTensorList } from './framed-tensors.js';
import { generateFields } from './generate-fields.js';
import { readModelMetadata } from './model-metadata.js';
import { createInFlight } from './socket/in-flight.js';
import type { ClassifyReply, GenerateParams, GenerateReply, InferReply, Tensor, Transport, TransportFactory } from './types.js';
import { labelIndex, toGenerateStats } from './types.js';

export const FRAME_TYPES = { echo: 0, classify: 1, classifyBatch: 2, generate: 3, generateStream: 4, token: 5, classifyTimed: 6, infer: 7, metadata: 8, error: 255 } as const;

interface Reply {
  readonly type: number;
  readonly body: Uint8Array;
}

const decoder = new TextDecoder('utf-8', { fatal: false });
const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const IMAGE_BYTES = 3072;
const encoder = new TextEncoder();

/** `[u32 BE 1 + body.length][u8 type]`: the frame header that precedes `body`. */
export function frameHeader(type: number, bodyLength: number): Uint8Array {
  const header = new Uint8Array(5);
  const view = new DataView(header.buffer);
  view.setUint32(0, bodyLength + 1);
  view.setUint8(4, type);
  return header;
}

// Below this size one copy into a single buffer is cheaper than a corked two-buffer write.
const JOIN_BELOW_BYTES = 64 * 1024;

export function encodeFrame(type: number, body: Uint8Array): Uint8Array[] {
  if (body.length >= JOIN_BELOW_BYTES) return [frameHeader(type, body.length), body];
  const out = Buffer.allocUnsafe(5 + body.length); // every byte is written below
  out.writeUInt32BE(body.length + 1, 0);
  out[4] = type;
  out.set(body, 5);
  return [out];
}

export const createFramedTransport: TransportFactory = async (options) => {
  let nextId = 0;
  let replyId = 0; // requests are answered in order: the oldest waiting is the next to be answered
  const inFlight = createInFlight<Reply>(options.timeoutMs, (error) => socket.destroy(error));
  const socket = await connectFrameSocket(options.address, options.maxFrameBytes + 1, {
    onFrame(body) {
      const id = replyId;
      if (inFlight.size === 0 || body.length === 0) {
        socket.destroy(new HarnessError('PROTOCOL_ERROR', `Unexpected frame of ${body.length} bytes with no request waiting`));
        return;
      }
      const reply: Reply = { type: body[0] as number, body: body.subarray(1) };
      if (reply.type === FRAME_TYPES.token) {
        inFlight.get(id)?.onPart?.(reply);
        return;
      }
      const waiter = inFlight.take(id);
      replyId += 1;
      if (reply.type === FRAME_TYPES.error) waiter?.reject(fromWireError(parseJson(reply.body)));
      else waiter?.resolve(reply);
    },
    onClose(error) {
      inFlight.failAll(error);
    },
  });

  function request(type: number, body: Uint8Array, onPart?: (part: Reply) => void): Promise<Reply> {
    return send(encodeFrame(type, body), onPart);
  }

  function send(frames: Uint8Array[], onPart?: (part: Reply) => void): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (socket.closed) {
        reject(new HarnessError('SIDECAR_CLOSED', 'The connection to the sidecar is closed'));
        return;
      }
      inFlight.add(nextId++, resolve, reject, onPart);
      socket.write(frames);
    });
  }

  /** Type 7: the tensor list goes out as parts (large tensor data uncopied) behind one frame header. */
  async function infer(inputs: readonly Tensor[]): Promise<InferReply> {
    const parts = encodeTensorList(inputs);
    const length = parts.reduce((n, p) => n + p.length, 0);
    if (length + 1 > options.maxFrameBytes) throw new HarnessError('FRAME_TOO_LARGE', `Expected an infer request of at most ${options.maxFrameBytes} bytes, got ${length + 1}`);
    const frames = parts.length === 1 ? encodeFrame(FRAME_TYPES.infer, parts[0] as Uint8Array) : [frameHeader(FRAME_TYPES.infer, length), ...parts];
    return decodeInferReply(expectType(await send(frames), FRAME_TYPES.infer));
  }

  function expectType(reply: Reply, type: number): Uint8Array {
    if (reply.type !== type) throw new HarnessError('PROTOCOL_ERROR', `Expected a reply of type ${type}, got ${reply.type}`);
    return reply.body;
  }

  async function generateWith(type: number, params: GenerateParams, onText?: (text: string) => void): Promise<GenerateReply> {
    const onPart = onText === undefined ? undefined : (part: Reply) => onText(decoder.decode(part.body));
    const reply = await request(type, encoder.encode(JSON.stringify(generateFields(params))), onPart);
    const final = parseJson(expectType(reply, FRAME_TYPES.generate)) as { response?: unknown; stats?: unknown };
    if (typeof final.response !== 'string') throw new HarnessError('PROTOCOL_ERROR', 'Expected `response` in the generate reply');
    return { response: final.response, stats: toGenerateStats(final.stats) };
  }

  /** The idea's type 1: the reply is the class name, read back as an index by the class names given. */
  async function classifyOne(image: Uint8Array): Promise<ClassifyReply> {
    const body = expectType(await request(FRAME_TYPES.classify, image), FRAME_TYPES.classify);
    let name: string;
    try {
      name = strictDecoder.decode(body);
    } catch (error) {
      throw new HarnessError('PROTOCOL_ERROR', `Expected the class name in UTF-8, got ${body.length} bytes that are not`, { cause: error });
    }
    return { labels: Uint8Array.of(labelIndex(name, options.classNames)), names: [name] };
  }

  /** Our type 2 (the idea defines no batch): one class index byte per image. */
  async function classifyBatch(images: Uint8Array): Promise<ClassifyReply> {
    return { labels: expectType(await request(FRAME_TYPES.classifyBatch, images), FRAME_TYPES.classifyBatch) };
  }

  const transport: Transport = {
    name: 'framed',
    infer,
    async metadata() {
      return readModelMetadata(parseJson(expectType(await request(FRAME_TYPES.metadata, new Uint8Array(0)), FRAME_TYPES.metadata)));
    },
    async echo(payload) {
      return expectType(await request(FRAME_TYPES.echo, payload), FRAME_TYPES.echo);
    },
    // Our timed type (6) unless told to speak the idea's wire: its reply carries the model's compute
    // time, so the transport's overhead is measured per request (docs/protocol.md).
    async classify(images): Promise<ClassifyReply> {
      if (options.dialect === 'idea') return images.length === IMAGE_BYTES ? classifyOne(images) : classifyBatch(images);
      const body = expectType(await request(FRAME_TYPES.classifyTimed, images), FRAME_TYPES.classifyTimed);
      if (body.length < 8) throw new HarnessError('PROTOCOL_ERROR', `Expected a timed classify reply of at least 8 bytes, got ${body.length}`);
      const computeNs = Number(new DataView(body.buffer, body.byteOffset, 8).getBigUint64(0));
      return { labels: body.subarray(8), computeNs };
    },
    generate: (params) => generateWith(FRAME_TYPES.generate, params),
    generateStream: (params, onText) => generateWith(FRAME_TYPES.generateStream, params, onText),
    close: () => socket.close(),
  };
  return transport;
};

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(body));
  } catch (error) {
    throw new HarnessError('PROTOCOL_ERROR', `Expected a JSON body, got ${body.length} bytes that do not parse`, { cause: error });
  }
}
