/**
 * The Open Inference Protocol's REST infer body both ways (KServe v2, docs/protocol.md "Open
 * Inference Protocol routes"), as pure functions. `binary` uses the binary tensor data extension
 * both ways: a JSON header (its length in `Inference-Header-Content-Length`) then the raw tensors,
 * outputs asked for with request-level `binary_data_output`. `json` puts every element in the JSON
 * `data` lists, as a server without the extension needs: NaN and infinities cannot go that way
 * (refused here, BAD_INPUT), and a 64-bit integer reply beyond 2^53 would be rounded by JSON.parse,
 * so it is refused as PROTOCOL_ERROR rather than passed on changed.
 */
import { HarnessError } from './errors.js';
import { asRecord, readComputeNs, readDatatype, readName, readShape } from './model-metadata.js';
import { checkedOutput, isFloat, makeTensor, tensorValues, type TensorValue } from './tensors.js';
import type { InferReply, Tensor } from './types.js';

export type TensorEncoding = 'binary' | 'json';
export const HEADER_LENGTH = 'inference-header-content-length';
export const COMPUTE_HEADER = 'x-compute-ns';

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export interface InferBody {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/** The request body and headers for `inputs` in `encoding`. */
export function encodeInferBody(inputs: readonly Tensor[], encoding: TensorEncoding): InferBody {
  if (encoding === 'json') {
    const header = { inputs: inputs.map((t) => ({ name: t.name, shape: [...t.shape], datatype: t.datatype, data: jsonData(t) })) };
    return { headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(header)) };
  }
  const header = {
    inputs: inputs.map((t) => ({ name: t.name, shape: [...t.shape], datatype: t.datatype, parameters: { binary_data_size: t.data.length } })),
    parameters: { binary_data_output: true },
  };
  const json = Buffer.from(JSON.stringify(header));
  return {
    headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(json.length) },
    body: Buffer.concat([json, ...inputs.map((t) => t.data)]),
  };
}

/** A tensor's elements as a JSON list: numbers, booleans, or (BYTES) UTF-8 strings. */
function jsonData(tensor: Tensor): (number | boolean | string)[] {
  const what = `input \`${tensor.name}\``;
  return tensorValues(tensor).map((value: TensorValue) => {
    if (value instanceof Uint8Array) {
      try {
        return strictUtf8.decode(value);
      } catch {
        throw new HarnessError('BAD_INPUT', `BYTES ${what} has an element that is not UTF-8, which JSON cannot carry: use tensorEncoding 'binary'`);
      }
    }
    if (typeof value === 'bigint') {
      if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw new HarnessError('BAD_INPUT', `${tensor.datatype} ${what} holds ${value}, beyond what a JSON number keeps exactly (2^53): use tensorEncoding 'binary'`);
      }
      return Number(value);
    }
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new HarnessError('BAD_INPUT', `${tensor.datatype} ${what} holds ${value}, which JSON has no number for: use tensorEncoding 'binary'`);
    }
    return value;
  });
}

function fail(message: string): HarnessError {
  return new HarnessError('PROTOCOL_ERROR', message);
}

/** A header's single value (undici gives a list for a repeated header). */
export function headerValue(headers: Readonly<Record<string, string | string[] | undefined>>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** A 200 infer reply: JSON only, or a JSON header then the outputs' raw bytes (its length in the reply's own header). */
export function decodeInferBody(headers: Readonly<Record<string, string | string[] | undefined>>, body: Uint8Array): InferReply {
  const lengthText = headerValue(headers, HEADER_LENGTH);
  let jsonLength = body.length;
  if (lengthText !== undefined) {
    jsonLength = /^\d+$/.test(lengthText.trim()) ? Number(lengthText) : NaN;
    if (!(jsonLength <= body.length)) throw fail(`Expected \`${HEADER_LENGTH}\` to be a byte count of at most the body's ${body.length}, got ${JSON.stringify(lengthText)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(body.subarray(0, jsonLength)));
  } catch (error) {
    throw new HarnessError('PROTOCOL_ERROR', `Expected the infer reply's JSON header in its first ${jsonLength} bytes; it does not parse`, { cause: error });
  }
  const reply = asRecord(value, 'the infer reply');
  if (!Array.isArray(reply['outputs'])) throw fail('Expected `outputs` to be a list in the infer reply');
  const binary = body.subarray(jsonLength);
  let offset = 0;
  const outputs = reply['outputs'].map((raw, i): Tensor => {
    const entry = asRecord(raw, `output ${i}`);
    const name = readName(entry['name'], `output ${i}`);
    const what = `output \`${name}\``;
    const datatype = readDatatype(entry['datatype'], what);
    const shape = readShape(entry['shape'], what, false);
    const size = entry['parameters'] === undefined ? undefined : asRecord(entry['parameters'], `the parameters of ${what}`)['binary_data_size'];
    if (size === undefined) return fromJson(name, datatype, shape, entry['data']);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || offset + size > binary.length) {
      throw fail(`Expected ${what}'s binary_data_size (${JSON.stringify(size)}) to fit the ${binary.length - offset} binary bytes left`);
    }
    const data = binary.subarray(offset, offset + size);
    offset += size;
    return checkedOutput({ name, datatype, shape, data });
  });
  if (offset !== binary.length) throw fail(`Expected ${offset} bytes of binary output data, got ${binary.length}`);
  const computeNs = readComputeNs(headerValue(headers, COMPUTE_HEADER)) ?? readComputeNs(parameter(reply, 'compute_ns'));
  return computeNs === undefined ? { outputs } : { outputs, computeNs };
}

function parameter(reply: Record<string, unknown>, key: string): unknown {
  const parameters = reply['parameters'];
  return typeof parameters === 'object' && parameters !== null ? (parameters as Record<string, unknown>)[key] : undefined;
}

function flatten(data: unknown, depth: number, out: unknown[]): void {
  if (!Array.isArray(data) || depth > 8) throw fail(`Expected \`data\` to be a (nested) list, got ${JSON.stringify(data)?.slice(0, 80)}`);
  for (const item of data) {
    if (Array.isArray(item)) flatten(item, depth + 1, out);
    else out.push(item);
  }
}

/** An output's JSON `data` (flat or nested, row-major) as a tensor. */
function fromJson(name: string, datatype: Tensor['datatype'], shape: number[], data: unknown): Tensor {
  const flat: unknown[] = [];
  flatten(data, 0, flat);
  const what = `output \`${name}\``;
  const values = flat.map((v): TensorValue | string => {
    if (datatype === 'BYTES') {
      if (typeof v !== 'string') throw fail(`Expected strings in BYTES ${what}, got ${JSON.stringify(v)}`);
      return utf8.encode(v);
    }
    if (datatype === 'BOOL') {
      if (typeof v !== 'boolean') throw fail(`Expected booleans in BOOL ${what}, got ${JSON.stringify(v)}`);
      return v;
    }
    if (typeof v !== 'number') throw fail(`Expected numbers in ${datatype} ${what}, got ${JSON.stringify(v)}`);
    if (datatype.endsWith('INT64')) {
      if (!Number.isSafeInteger(v)) throw fail(`${datatype} ${what} holds ${v}, which JSON.parse may have rounded: ask for binary outputs`);
      return BigInt(v);
    }
    if (!isFloat(datatype) && !Number.isInteger(v)) throw fail(`Expected integers in ${datatype} ${what}, got ${v}`);
    return v;
  });
  try {
    return makeTensor(name, datatype, shape, values);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new HarnessError('PROTOCOL_ERROR', `The infer reply's ${what} does not hold together: ${message}`, { cause: error });
  }
}
