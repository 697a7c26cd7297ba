/** A model's Open Inference Protocol metadata as the suite reads it (a ready line's, or a wire's reply), checked. */
import { HarnessError } from '../../transports/errors.js';
import { isTensorDatatype } from '../../transports/tensors.js';
import type { ModelMetadata, TensorSpec } from '../../transports/types.js';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function specs(value: unknown, field: string): TensorSpec[] {
  const bad = (why: string): never => {
    throw new HarnessError('PROTOCOL_ERROR', `Expected the model metadata's \`${field}\` ${why}`);
  };
  if (!Array.isArray(value)) return bad(`to be a list, got ${JSON.stringify(value)}`);
  return value.map((s, i) => {
    if (!isRecord(s) || typeof s['name'] !== 'string' || !isTensorDatatype(s['datatype'])) return bad(`[${i}] to be {"name", "datatype", "shape"}, got ${JSON.stringify(s)}`);
    const shape = s['shape'];
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= -1)) return bad(`[${i}].shape to be integers (-1 for any size), got ${JSON.stringify(shape)}`);
    return { name: s['name'], datatype: s['datatype'], shape: shape as number[] };
  });
}

/** Metadata from untrusted JSON; PROTOCOL_ERROR naming the field that is wrong. */
export function parseMetadata(value: unknown): ModelMetadata {
  if (!isRecord(value) || typeof value['name'] !== 'string') throw new HarnessError('PROTOCOL_ERROR', `Expected model metadata {"name", "inputs", "outputs"}, got ${JSON.stringify(value)?.slice(0, 200)}`);
  return { ...value, name: value['name'], inputs: specs(value['inputs'], 'inputs'), outputs: specs(value['outputs'], 'outputs') };
}

const spec = (s: TensorSpec): string => `${s.name} ${s.datatype} [${s.shape.join(', ')}]`;

/** `tabular-mlp: inputs features FP32 [-1, 32]; outputs label INT64 [-1], ...` */
export function describeMetadata(m: ModelMetadata): string {
  return `${m.name}: inputs ${m.inputs.map(spec).join(', ')}; outputs ${m.outputs.map(spec).join(', ')}`;
}
