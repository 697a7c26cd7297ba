/**
 * Named, typed tensors as every wire carries them (types.ts `Tensor`, docs/protocol.md "Tensors"):
 * element sizes, checking a tensor's bytes against its shape and datatype, BYTES element packing
 * (each element a u32 LE length then its bytes, as the Open Inference Protocol's raw form), reading
 * the raw little-endian elements as values and building tensors from values. The Python side's
 * twin is sidecars/tensors.py.
 */
import { HarnessError } from './errors.js';
import { TENSOR_DATATYPES, type Tensor, type TensorDatatype } from './types.js';

export const MAX_RANK = 8;
/** The most tensors one framed request or reply carries (its count is one byte, 1..64). */
export const MAX_TENSORS = 64;

/** Bytes per element; BYTES has no fixed size (0 here). */
export const ELEMENT_BYTES: Readonly<Record<TensorDatatype, number>> = {
  BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8, BYTES: 0,
};

/** One element as a value: numbers (FP16 decoded), bigints for 64-bit integers, booleans, BYTES as bytes. */
export type TensorValue = number | bigint | boolean | Uint8Array;
export type TensorValues = readonly number[] | readonly bigint[] | readonly boolean[] | readonly Uint8Array[];

const DATATYPE_SET: ReadonlySet<string> = new Set(TENSOR_DATATYPES);
const utf8 = new TextEncoder();

export function isTensorDatatype(value: unknown): value is TensorDatatype {
  return typeof value === 'string' && DATATYPE_SET.has(value);
}

export function isFloat(datatype: TensorDatatype): boolean {
  return datatype === 'FP16' || datatype === 'FP32' || datatype === 'FP64';
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function bad(message: string): HarnessError {
  return new HarnessError('BAD_INPUT', message);
}

/** A shape as the wires allow it: at most MAX_RANK non-negative integers. */
export function checkShape(shape: readonly unknown[], what: string): readonly number[] {
  if (shape.length > MAX_RANK || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`Expected the shape of ${what} to be at most ${MAX_RANK} non-negative integers, got ${JSON.stringify(shape)}`);
  }
  return shape as readonly number[];
}

/** Throws BAD_INPUT unless `tensor` is well formed: a name, a known datatype, a shape, and exactly the bytes they call for. */
export function checkTensor(tensor: Tensor): void {
  const what = `tensor \`${tensor.name}\``;
  if (tensor.name.length === 0) throw bad('Expected a tensor name, got an empty string');
  if (!isTensorDatatype(tensor.datatype)) throw bad(`Expected the datatype of ${what} to be one of ${TENSOR_DATATYPES.join(', ')}, got ${JSON.stringify(tensor.datatype)}`);
  const count = elementCount(checkShape(tensor.shape, what));
  if (tensor.datatype === 'BYTES') {
    const elements = unpackBytes(tensor.data, what);
    if (elements.length !== count) throw bad(`Expected ${count} elements in ${what} (BYTES ${JSON.stringify(tensor.shape)}), got ${elements.length}`);
    return;
  }
  const expected = count * ELEMENT_BYTES[tensor.datatype];
  if (tensor.data.length !== expected) {
    throw bad(`Expected ${expected} bytes for ${what} (${tensor.datatype} ${JSON.stringify(tensor.shape)}), got ${tensor.data.length}`);
  }
}

/** A tensor a server sent, checked as checkTensor does: a malformed one is the server's fault, PROTOCOL_ERROR. */
export function checkedOutput(tensor: Tensor): Tensor {
  try {
    checkTensor(tensor);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new HarnessError('PROTOCOL_ERROR', `The reply's output does not hold together: ${message}`, { cause: error });
  }
  return tensor;
}

/** BYTES elements in raw form: each a u32 LE length then its bytes (strings as UTF-8). */
export function packBytes(elements: readonly (Uint8Array | string)[]): Uint8Array {
  const parts = elements.map((e) => (typeof e === 'string' ? utf8.encode(e) : e));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const part of parts) {
    view.setUint32(at, part.length, true);
    out.set(part, at + 4);
    at += 4 + part.length;
  }
  return out;
}

/** The elements of raw BYTES data (views, not copies); BAD_INPUT when a length runs past the end. */
export function unpackBytes(data: Uint8Array, what = 'BYTES data'): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const elements: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + 4 > data.length) throw bad(`${what} ends inside the length of element ${elements.length}`);
    const size = view.getUint32(at, true);
    if (at + 4 + size > data.length) throw bad(`${what}: element ${elements.length} declares ${size} bytes, ${data.length - at - 4} are left`);
    elements.push(data.subarray(at + 4, at + 4 + size));
    at += 4 + size;
  }
  return elements;
}

/** IEEE half-precision bits as a number. */
export function fp16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** A number as IEEE half-precision bits, rounded to nearest even (through float32, as numpy does for most values). */
export function numberToFp16(value: number): number {
  const f32 = new DataView(new ArrayBuffer(4));
  f32.setFloat32(0, value);
  const x = f32.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  const mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let out = m >> shift;
    if (rest > half || (rest === half && (out & 1) === 1)) out += 1;
    return sign | out;
  }
  let out = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out += 1; // may carry into the exponent: still correct
  return sign | out;
}

type Reader = (view: DataView, at: number) => TensorValue;
const READERS: Readonly<Record<Exclude<TensorDatatype, 'BYTES'>, Reader>> = {
  BOOL: (v, at) => v.getUint8(at) !== 0,
  UINT8: (v, at) => v.getUint8(at),
  UINT16: (v, at) => v.getUint16(at, true),
  UINT32: (v, at) => v.getUint32(at, true),
  UINT64: (v, at) => v.getBigUint64(at, true),
  INT8: (v, at) => v.getInt8(at),
  INT16: (v, at) => v.getInt16(at, true),
  INT32: (v, at) => v.getInt32(at, true),
  INT64: (v, at) => v.getBigInt64(at, true),
  FP16: (v, at) => fp16ToNumber(v.getUint16(at, true)),
  FP32: (v, at) => v.getFloat32(at, true),
  FP64: (v, at) => v.getFloat64(at, true),
};

/** The tensor's elements in row-major order, as values; the tensor must be well formed (checkTensor). */
export function tensorValues(tensor: Tensor): TensorValue[] {
  if (tensor.datatype === 'BYTES') return unpackBytes(tensor.data, `tensor \`${tensor.name}\``);
  const size = ELEMENT_BYTES[tensor.datatype];
  const read = READERS[tensor.datatype];
  const view = new DataView(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const count = Math.floor(tensor.data.length / size);
  const out = new Array<TensorValue>(count);
  for (let i = 0; i < count; i++) out[i] = read(view, i * size);
  return out;
}

// The range of each integer datatype: DataView's setters wrap a value that does not fit, silently.
const INT_RANGES: Readonly<Partial<Record<TensorDatatype, readonly [bigint, bigint]>>> = {
  UINT8: [0n, 0xffn], UINT16: [0n, 0xffffn], UINT32: [0n, 0xffff_ffffn], UINT64: [0n, 2n ** 64n - 1n],
  INT8: [-0x80n, 0x7fn], INT16: [-0x8000n, 0x7fffn], INT32: [-(2n ** 31n), 2n ** 31n - 1n], INT64: [-(2n ** 63n), 2n ** 63n - 1n],
};

function fits(datatype: TensorDatatype, value: TensorValue): boolean {
  const range = INT_RANGES[datatype];
  if (range === undefined) return true;
  if (typeof value === 'number' && !Number.isInteger(value)) return false;
  const v = typeof value === 'bigint' ? value : BigInt(Number(value));
  return v >= range[0] && v <= range[1];
}

type Writer = (view: DataView, at: number, value: TensorValue) => void;
const num = (value: TensorValue): number => Number(value);
const big = (value: TensorValue): bigint => (typeof value === 'bigint' ? value : BigInt(num(value)));
const WRITERS: Readonly<Record<Exclude<TensorDatatype, 'BYTES'>, Writer>> = {
  BOOL: (v, at, x) => v.setUint8(at, x === true || (typeof x !== 'boolean' && num(x) !== 0) ? 1 : 0),
  UINT8: (v, at, x) => v.setUint8(at, num(x)),
  UINT16: (v, at, x) => v.setUint16(at, num(x), true),
  UINT32: (v, at, x) => v.setUint32(at, num(x), true),
  UINT64: (v, at, x) => v.setBigUint64(at, big(x), true),
  INT8: (v, at, x) => v.setInt8(at, num(x)),
  INT16: (v, at, x) => v.setInt16(at, num(x), true),
  INT32: (v, at, x) => v.setInt32(at, num(x), true),
  INT64: (v, at, x) => v.setBigInt64(at, big(x), true),
  FP16: (v, at, x) => v.setUint16(at, numberToFp16(num(x)), true),
  FP32: (v, at, x) => v.setFloat32(at, num(x), true),
  FP64: (v, at, x) => v.setFloat64(at, num(x), true),
};

/**
 * A tensor from values in row-major order: numbers, bigints or booleans, or for BYTES strings
 * (UTF-8) or bytes. BAD_INPUT when the count does not match the shape or a value does not fit.
 */
export function makeTensor(name: string, datatype: TensorDatatype, shape: readonly number[], values: ArrayLike<TensorValue | string>): Tensor {
  const what = `tensor \`${name}\``;
  const count = elementCount(checkShape(shape, what));
  if (values.length !== count) throw bad(`Expected ${count} values for ${what} (${datatype} ${JSON.stringify(shape)}), got ${values.length}`);
  const list = Array.from(values);
  if (datatype === 'BYTES') {
    if (!list.every((v): v is string | Uint8Array => typeof v === 'string' || v instanceof Uint8Array)) throw bad(`Expected strings or bytes for BYTES ${what}`);
    return { name, datatype, shape: [...shape], data: packBytes(list) };
  }
  const size = ELEMENT_BYTES[datatype];
  const data = new Uint8Array(count * size);
  const view = new DataView(data.buffer);
  const write = WRITERS[datatype];
  list.forEach((value, i) => {
    if (typeof value === 'string' || value instanceof Uint8Array) throw bad(`Expected numbers for ${datatype} ${what}, got ${typeof value === 'string' ? 'a string' : 'bytes'}`);
    if (!fits(datatype, value)) throw bad(`Value ${String(value)} at index ${i} does not fit ${datatype} ${what}`);
    write(view, i * size, value);
  });
  return { name, datatype, shape: [...shape], data };
}

export type TensorArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | BigUint64Array | BigInt64Array | Float32Array | Float64Array;
type ArrayMaker = new (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorArray;
const ARRAYS: Readonly<Record<Exclude<TensorDatatype, 'BYTES' | 'FP16'>, ArrayMaker>> = {
  BOOL: Uint8Array, UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array,
  INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, INT64: BigInt64Array, FP32: Float32Array, FP64: Float64Array,
};
const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * The tensor's elements as a typed array: a view of `data` when it is aligned, else a copy. FP16
 * (which Node 20 has no array for) comes back decoded into a Float32Array copy. Typed arrays use
 * the host's byte order; every host Node supports here is little-endian, and a big-endian one is
 * refused rather than read wrong.
 */
export function typedView(tensor: Tensor): TensorArray {
  if (tensor.datatype === 'BYTES') throw bad(`BYTES tensor \`${tensor.name}\` has no typed-array form: use unpackBytes`);
  if (!LITTLE_ENDIAN_HOST) throw new HarnessError('SETUP_FAILED', 'Typed-array views of tensors need a little-endian host');
  const { data } = tensor;
  if (tensor.datatype === 'FP16') return Float32Array.from(tensorValues(tensor) as number[]);
  const size = ELEMENT_BYTES[tensor.datatype];
  const Maker = ARRAYS[tensor.datatype];
  const aligned = data.byteOffset % size === 0 ? data : new Uint8Array(data); // a copy: Buffer#slice would be a view
  return new Maker(aligned.buffer as ArrayBuffer, aligned.byteOffset, Math.floor(aligned.length / size));
}
