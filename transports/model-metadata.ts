/**
 * Reading what a server says about its model and its tensors, the same on every wire: the Open
 * Inference Protocol's model metadata (a JSON object on framed, msgpack and REST; a message on
 * gRPC) and a tensor given as a map of name, datatype, shape and raw data (msgpack). Anything
 * malformed is the server's fault: PROTOCOL_ERROR, saying what came.
 */
import { HarnessError } from './errors.js';
import { isTensorDatatype } from './tensors.js';
import type { ModelMetadata, Tensor, TensorDatatype, TensorSpec } from './types.js';

function fail(message: string): HarnessError {
  return new HarnessError('PROTOCOL_ERROR', message);
}

function short(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw fail(`Expected ${what} to be an object, got ${short(value)}`);
  return value as Record<string, unknown>;
}

export function readName(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0) throw fail(`Expected the name of ${what} to be a non-empty string, got ${short(value)}`);
  return value;
}

export function readDatatype(value: unknown, what: string): TensorDatatype {
  if (!isTensorDatatype(value)) throw fail(`Expected the datatype of ${what} to be an Open Inference Protocol datatype, got ${short(value)}`);
  return value;
}

/** A shape; `allowAny` admits -1 (metadata's dimension of any size). gRPC's int64 dims may arrive as strings. */
export function readShape(value: unknown, what: string, allowAny: boolean): number[] {
  const dims = Array.isArray(value) ? value.map((d) => (typeof d === 'string' && /^-?\d+$/.test(d) ? Number(d) : d)) : undefined;
  const min = allowAny ? -1 : 0;
  if (dims === undefined || dims.length > 8 || !dims.every((d): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= min)) {
    throw fail(`Expected the shape of ${what} to be a list of at most 8 integers of at least ${min}, got ${short(value)}`);
  }
  return dims;
}

function readSpecs(value: unknown, what: string): TensorSpec[] {
  if (value === undefined) return []; // proto3 leaves an empty list off the wire
  if (!Array.isArray(value)) throw fail(`Expected the ${what} of the model metadata to be a list, got ${short(value)}`);
  return value.map((raw, i) => {
    const spec = asRecord(raw, `${what} ${i}`);
    const name = readName(spec['name'], `${what} ${i}`);
    return { name, datatype: readDatatype(spec['datatype'], `${what} \`${name}\``), shape: readShape(spec['shape'] ?? [], `${what} \`${name}\``, true) };
  });
}

/** The model metadata object `{name, versions?, platform?, inputs, outputs}`. */
export function readModelMetadata(value: unknown): ModelMetadata {
  const raw = asRecord(value, 'the model metadata');
  const metadata: { -readonly [K in keyof ModelMetadata]: ModelMetadata[K] } = {
    name: readName(raw['name'], 'the model'),
    inputs: readSpecs(raw['inputs'], 'inputs'),
    outputs: readSpecs(raw['outputs'], 'outputs'),
  };
  const versions = raw['versions'];
  if (Array.isArray(versions) && versions.every((v): v is string => typeof v === 'string')) metadata.versions = versions;
  if (typeof raw['platform'] === 'string') metadata.platform = raw['platform'];
  return metadata;
}

/** One tensor as a map `{name, datatype, shape, data: raw bytes}` (msgpack's form). */
export function readWireTensor(value: unknown, what: string): Tensor {
  const raw = asRecord(value, what);
  const name = readName(raw['name'], what);
  const data = raw['data'];
  if (!(data instanceof Uint8Array)) throw fail(`Expected the data of ${what} \`${name}\` to be bytes, got ${short(data)}`);
  return { name, datatype: readDatatype(raw['datatype'], `${what} \`${name}\``), shape: readShape(raw['shape'], `${what} \`${name}\``, false), data };
}

/** A compute time field: a non-negative integer (number or bigint), or absent. */
export function readComputeNs(value: unknown): number | undefined {
  if (typeof value === 'bigint' && value >= 0n) return Number(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  return undefined;
}
