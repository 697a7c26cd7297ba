/**
 * The model suite's requests: synthesised from the model's metadata with a seed, or read from a
 * `--model-inputs` file. Every arm (each transport and the in-process model) sends the same
 * requests, so their outputs can be compared request by request.
 */
import { readFile } from 'node:fs/promises';
import { mulberry32 } from '../../datasets/random.js';
import { HarnessError } from '../../transports/errors.js';
import { makeTensor } from '../../transports/tensors.js';
import { TENSOR_DATATYPES, type ModelMetadata, type Tensor, type TensorDatatype, type TensorSpec } from '../../transports/types.js';

/** One request: a tensor for each of the model's inputs. */
export type ModelRequest = readonly Tensor[];

/** A `-1` that is not the leading (batch) dimension becomes this many elements. */
export const FREE_DIM = 8;
/** Synthesised integers lie in [0, INT_RANGE): valid indices for most embedding tables, never negative. */
export const INT_RANGE = 16;
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];

/** The shape a request sends for `spec`: the leading -1 is `batch`, any other -1 is FREE_DIM. */
export function concreteShape(spec: TensorSpec, batch: number): number[] {
  return spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? batch : FREE_DIM));
}

function randomValues(datatype: TensorDatatype, count: number, random: () => number): (number | boolean | string)[] {
  return Array.from({ length: count }, () => {
    if (datatype === 'FP16' || datatype === 'FP32' || datatype === 'FP64') return random() * 2 - 1;
    if (datatype === 'BOOL') return random() < 0.5;
    if (datatype === 'BYTES') return Array.from({ length: 1 + Math.floor(random() * 3) }, () => WORDS[Math.floor(random() * WORDS.length)]).join(' ');
    return Math.floor(random() * INT_RANGE);
  });
}

/**
 * `count` requests for the model's inputs, the same for a given `seed`: floats uniform in [-1, 1],
 * integers in [0, INT_RANGE), BOOL 0/1, BYTES short ASCII phrases; the leading -1 is `batch`, or
 * each input has the shape `shapes` gives it (model-sizes.ts, `--tensor-bytes`).
 */
export function synthesiseRequests(metadata: ModelMetadata, options: { seed: number; count: number; batch: number; shapes?: readonly (readonly number[])[] }): ModelRequest[] {
  if (metadata.inputs.length === 0) throw new HarnessError('USAGE', `Model \`${metadata.name}\` declares no inputs: there is nothing to send it`);
  const random = mulberry32(options.seed);
  return Array.from({ length: options.count }, () =>
    metadata.inputs.map((spec, i) => {
      const shape = options.shapes?.[i] ?? concreteShape(spec, options.batch);
      const count = shape.reduce((n, d) => n * d, 1);
      return makeTensor(spec.name, spec.datatype, shape, randomValues(spec.datatype, count, random));
    }),
  );
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A flat list from OIP JSON `data`, which may also be nested row-major. */
function flatData(data: unknown): unknown[] {
  return Array.isArray(data) ? data.flatMap((d) => (Array.isArray(d) ? flatData(d) : [d])) : [data];
}

function tensorFrom(file: string, where: string, value: unknown, specs: readonly TensorSpec[] | undefined): Tensor {
  const bad = (why: string): never => {
    throw new HarnessError('USAGE', `\`--model-inputs ${file}\`: ${where}: ${why}`);
  };
  if (!isRecord(value)) return bad('expected an object {"name", "datatype", "shape", "data"}');
  const { name, datatype, shape, data } = value;
  if (typeof name !== 'string' || name.length === 0) return bad('expected `name` to be a non-empty string');
  if (typeof datatype !== 'string' || !(TENSOR_DATATYPES as readonly string[]).includes(datatype)) return bad(`expected \`datatype\` to be one of ${TENSOR_DATATYPES.join(', ')}, got ${JSON.stringify(datatype)}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) return bad(`expected \`shape\` to be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  const spec = specs?.find((s) => s.name === name);
  if (specs !== undefined && spec === undefined) return bad(`the model has no input \`${name}\` (its inputs: ${specs.map((s) => s.name).join(', ')})`);
  if (spec !== undefined && spec.datatype !== datatype) return bad(`input \`${name}\` is ${spec.datatype} in the model's metadata, not ${datatype}`);
  const type = datatype as TensorDatatype;
  const values = flatData(data);
  const ok = type === 'BYTES' ? values.every((v) => typeof v === 'string') : values.every((v) => typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)));
  if (!ok) return bad(`\`${name}\` (${type}) holds a value that is not a ${type === 'BYTES' ? 'string' : 'finite number'}`);
  try {
    return makeTensor(name, type, shape as number[], values as (number | boolean | string)[]);
  } catch (error) {
    return bad((error as Error).message);
  }
}

/**
 * Requests from a `--model-inputs` JSON file: one request `{"inputs": [tensor, ...]}`, or several
 * `{"requests": [{"inputs": [...]}, ...]}`; a tensor is OIP REST's `{"name", "datatype", "shape",
 * "data"}` with `data` flat (or nested) row-major, strings for BYTES. Checked against `metadata`.
 */
export async function readModelInputs(file: string, metadata: ModelMetadata | undefined): Promise<ModelRequest[]> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new HarnessError('USAGE', `Could not read \`--model-inputs ${file}\` as JSON: ${(error as Error).message}`, { cause: error });
  }
  const lists = isRecord(value) && Array.isArray(value['requests']) ? (value['requests'] as unknown[]).map((r) => (isRecord(r) ? r['inputs'] : undefined)) : [isRecord(value) ? value['inputs'] : undefined];
  if (lists.length === 0 || !lists.every((l) => Array.isArray(l) && l.length > 0)) {
    throw new HarnessError('USAGE', `Expected \`--model-inputs ${file}\` to hold {"inputs": [{"name", "datatype", "shape", "data"}, ...]} or {"requests": [{"inputs": [...]}, ...]}`);
  }
  return (lists as unknown[][]).map((list, r) => {
    const tensors = list.map((t, i) => tensorFrom(file, `request ${r} input ${i}`, t, metadata?.inputs));
    const missing = metadata?.inputs.filter((s) => !tensors.some((t) => t.name === s.name)) ?? [];
    if (missing.length > 0) throw new HarnessError('USAGE', `\`--model-inputs ${file}\`: request ${r} lacks the model's input(s) ${missing.map((s) => `\`${s.name}\``).join(', ')}`);
    return tensors;
  });
}
