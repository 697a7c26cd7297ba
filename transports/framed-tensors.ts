/**
 * The framed wire's tensor list (docs/protocol.md, framed type 7): `u8 T` (1..64) then T tensors,
 * each `u8 name_len` (1..255) + UTF-8 name, `u8 datatype code` (TENSOR_DATATYPES order: 0 BOOL ..
 * 12 BYTES), `u8 rank` (0..8), rank x `u32 BE` dims, `u32 BE data_len`, then data_len bytes of raw
 * little-endian data. An infer reply's body is `u64 BE compute_ns` then such a list. Decoding is
 * pure and strict: a body cut anywhere, or with bytes left over, is an error, never a short list.
 */
import { HarnessError, type HarnessErrorCode } from './errors.js';
import { checkedOutput, MAX_RANK, MAX_TENSORS } from './tensors.js';
import { TENSOR_DATATYPES, type InferReply, type Tensor } from './types.js';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
// Tensor data at least this large is sent as its own buffer (no copy); smaller data is joined to its header.
const JOIN_BELOW_BYTES = 64 * 1024;

/** The tensor list for a request (or a reply after its compute time): small parts joined, large data passed through. */
export function encodeTensorList(tensors: readonly Tensor[]): Uint8Array[] {
  if (tensors.length < 1 || tensors.length > MAX_TENSORS) {
    throw new HarnessError('BAD_INPUT', `Expected 1 to ${MAX_TENSORS} tensors in a framed infer request, got ${tensors.length}`);
  }
  const parts: Uint8Array[] = [];
  let pending: Uint8Array[] = [Uint8Array.of(tensors.length)];
  for (const tensor of tensors) {
    pending.push(tensorHeader(tensor));
    if (tensor.data.length >= JOIN_BELOW_BYTES) {
      parts.push(Buffer.concat(pending), tensor.data);
      pending = [];
    } else {
      pending.push(tensor.data);
    }
  }
  if (pending.length > 0) parts.push(Buffer.concat(pending));
  return parts;
}

function tensorHeader(tensor: Tensor): Uint8Array {
  const name = utf8.encode(tensor.name);
  const what = `tensor \`${tensor.name}\``;
  if (name.length < 1 || name.length > 255) throw new HarnessError('BAD_INPUT', `Expected a tensor name of 1 to 255 UTF-8 bytes, got ${name.length} (${what})`);
  const code = TENSOR_DATATYPES.indexOf(tensor.datatype);
  if (code < 0) throw new HarnessError('BAD_INPUT', `Expected the datatype of ${what} to be one of ${TENSOR_DATATYPES.join(', ')}, got ${JSON.stringify(tensor.datatype)}`);
  if (tensor.shape.length > MAX_RANK || !tensor.shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 0xffff_ffff)) {
    throw new HarnessError('BAD_INPUT', `Expected the shape of ${what} to be at most ${MAX_RANK} dimensions of 0 to 2^32-1, got ${JSON.stringify(tensor.shape)}`);
  }
  const out = new Uint8Array(3 + name.length + 4 * (tensor.shape.length + 1));
  const view = new DataView(out.buffer);
  out[0] = name.length;
  out.set(name, 1);
  out[1 + name.length] = code;
  out[2 + name.length] = tensor.shape.length;
  [...tensor.shape, tensor.data.length].forEach((n, i) => view.setUint32(3 + name.length + 4 * i, n));
  return out;
}

/** A cursor over one body that fails with `code` (PROTOCOL_ERROR for a reply, BAD_INPUT for a request) when the body runs out. */
class Reader {
  private at = 0;
  private readonly view: DataView;

  constructor(
    private readonly body: Uint8Array,
    private readonly code: HarnessErrorCode,
  ) {
    this.view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  }

  fail(message: string): HarnessError {
    return new HarnessError(this.code, message);
  }

  need(bytes: number, what: string): void {
    if (this.at + bytes > this.body.length) throw this.fail(`The tensor list ends inside ${what} (needs ${bytes} bytes at offset ${this.at}, ${this.body.length - this.at} left)`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.at++);
  }

  u32(what: string): number {
    this.need(4, what);
    const value = this.view.getUint32(this.at);
    this.at += 4;
    return value;
  }

  u64(what: string): number {
    this.need(8, what);
    const value = Number(this.view.getBigUint64(this.at));
    this.at += 8;
    return value;
  }

  bytes(length: number, what: string): Uint8Array {
    this.need(length, what);
    const out = this.body.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }

  end(): void {
    if (this.at !== this.body.length) throw this.fail(`Expected the tensor list to end at byte ${this.at}, got ${this.body.length - this.at} bytes more`);
  }
}

function readTensorList(reader: Reader): Tensor[] {
  const count = reader.u8('the tensor count');
  if (count < 1 || count > MAX_TENSORS) throw reader.fail(`Expected 1 to ${MAX_TENSORS} tensors, got ${count}`);
  const tensors: Tensor[] = [];
  for (let i = 0; i < count; i++) {
    const where = `tensor ${i}`;
    const nameLength = reader.u8(`${where}'s name length`);
    if (nameLength === 0) throw reader.fail(`Expected ${where}'s name length to be 1 to 255, got 0`);
    let name: string;
    try {
      name = strictUtf8.decode(reader.bytes(nameLength, `${where}'s name`));
    } catch (error) {
      if (error instanceof HarnessError) throw error;
      throw reader.fail(`Expected ${where}'s name in UTF-8`);
    }
    const code = reader.u8(`${where}'s datatype`);
    const datatype = TENSOR_DATATYPES[code];
    if (datatype === undefined) throw reader.fail(`Expected ${where}'s datatype code to be 0 to ${TENSOR_DATATYPES.length - 1}, got ${code}`);
    const rank = reader.u8(`${where}'s rank`);
    if (rank > MAX_RANK) throw reader.fail(`Expected ${where}'s rank to be at most ${MAX_RANK}, got ${rank}`);
    const shape: number[] = [];
    for (let d = 0; d < rank; d++) shape.push(reader.u32(`${where}'s dimension ${d}`));
    const data = reader.bytes(reader.u32(`${where}'s data length`), `${where}'s data`);
    tensors.push({ name, datatype, shape, data });
  }
  return tensors;
}

/** A framed infer request body, as the sidecar reads it (for tests and fake peers): BAD_INPUT when malformed. */
export function decodeTensorList(body: Uint8Array): Tensor[] {
  const reader = new Reader(body, 'BAD_INPUT');
  const tensors = readTensorList(reader);
  reader.end();
  return tensors;
}

/** A framed infer reply body (`u64 BE compute_ns`, then the outputs): PROTOCOL_ERROR when malformed. */
export function decodeInferReply(body: Uint8Array): InferReply {
  const reader = new Reader(body, 'PROTOCOL_ERROR');
  const computeNs = reader.u64('the compute time');
  const outputs = readTensorList(reader).map(checkedOutput);
  reader.end();
  return { outputs, computeNs };
}

/** A framed infer reply body for `reply` (for tests and fake peers). */
export function encodeInferReply(reply: InferReply): Uint8Array {
  const time = new Uint8Array(8);
  new DataView(time.buffer).setBigUint64(0, BigInt(reply.computeNs ?? 0));
  return Buffer.concat([time, ...encodeTensorList(reply.outputs)]);
}
