/**
 * The Open Inference Protocol's gRPC service, `inference.GRPCInferenceService` (KServe v2,
 * sidecars/proto/grpc_predict_v2.proto, loaded at run time like sidecar.proto): the methods, and
 * ModelInfer's messages both ways. Inputs go as `raw_input_contents` (raw little-endian, as on the
 * other wires); outputs are read from `raw_output_contents`, or from typed `contents` when a
 * server sends those. int64 fields load as strings, so 64-bit values and dims stay exact.
 */
import { fileURLToPath } from 'node:url';
import { loadService, type GrpcMethod } from './grpc-proto.js';
import { HarnessError } from './errors.js';
import { asRecord, readComputeNs, readDatatype, readModelMetadata, readName, readShape } from './model-metadata.js';
import { checkedOutput, makeTensor, type TensorValue } from './tensors.js';
import type { InferReply, ModelMetadata, Tensor, TensorDatatype } from './types.js';

export const OIP_PROTO_PATH = fileURLToPath(new URL('../sidecars/proto/grpc_predict_v2.proto', import.meta.url));
export const OIP_SERVICE_NAME = 'inference.GRPCInferenceService';

export type OipMethods = Readonly<Record<'ServerReady' | 'ModelMetadata' | 'ModelInfer', GrpcMethod>>;

let methods: OipMethods | undefined;

/** The service's methods, parsed from the .proto once per process. */
export function loadOipMethods(): OipMethods {
  methods ??= loadService(OIP_PROTO_PATH, OIP_SERVICE_NAME, String) as unknown as OipMethods;
  return methods;
}

/** ModelInfer's request: every input's data in `raw_input_contents`, in input order. */
export function inferRequest(modelName: string, inputs: readonly Tensor[]): object {
  return {
    model_name: modelName,
    inputs: inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
    raw_input_contents: inputs.map((t) => t.data),
  };
}

function fail(message: string): HarnessError {
  return new HarnessError('PROTOCOL_ERROR', message);
}

// proto3 leaves empty lists and zero values off the wire: an absent field is its zero value.
function list(value: unknown, what: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw fail(`Expected ${what} to be a list, got ${typeof value}`);
  return value;
}

/** ModelInfer's response as outputs and the compute time (`parameters["compute_ns"]`). */
export function readInferResponse(reply: Record<string, unknown>): InferReply {
  const raw = list(reply['raw_output_contents'], '`raw_output_contents`');
  const entries = list(reply['outputs'], '`outputs`');
  if (raw.length > 0 && raw.length !== entries.length) throw fail(`Expected one raw_output_contents entry per output (${entries.length}), got ${raw.length}`);
  const outputs = entries.map((value, i): Tensor => {
    const entry = asRecord(value, `output ${i}`);
    const name = readName(entry['name'], `output ${i}`);
    const what = `output \`${name}\``;
    const datatype = readDatatype(entry['datatype'], what);
    const shape = readShape(entry['shape'] ?? [], what, false);
    if (raw.length > 0) {
      const data = raw[i];
      if (!(data instanceof Uint8Array)) throw fail(`Expected raw bytes for ${what}`);
      return checkedOutput({ name, datatype, shape, data });
    }
    return fromContents(name, datatype, shape, entry['contents']);
  });
  const parameters = reply['parameters'] === undefined ? {} : asRecord(reply['parameters'], 'the response parameters');
  const timing = parameters['compute_ns'] === undefined ? undefined : asRecord(parameters['compute_ns'], 'parameter `compute_ns`');
  const computeNs = readComputeNs(timing?.['int64_param'] ?? timing?.['uint64_param']);
  return computeNs === undefined ? { outputs } : { outputs, computeNs };
}

const CONTENTS_FIELD: Readonly<Record<TensorDatatype, string | undefined>> = {
  BOOL: 'bool_contents', INT8: 'int_contents', INT16: 'int_contents', INT32: 'int_contents', INT64: 'int64_contents',
  UINT8: 'uint_contents', UINT16: 'uint_contents', UINT32: 'uint_contents', UINT64: 'uint64_contents',
  FP16: undefined, FP32: 'fp32_contents', FP64: 'fp64_contents', BYTES: 'bytes_contents',
};

/** An output given in typed `contents` (64-bit integers arrive as decimal strings). */
function fromContents(name: string, datatype: TensorDatatype, shape: number[], value: unknown): Tensor {
  const what = `output \`${name}\``;
  const field = CONTENTS_FIELD[datatype];
  if (field === undefined) throw fail(`Expected ${datatype} ${what} in raw_output_contents: contents has no ${datatype} field`);
  const contents = value === undefined ? {} : asRecord(value, `the contents of ${what}`);
  const values = list(contents[field], `${what}'s ${field}`).map((v): TensorValue => {
    if (datatype.endsWith('INT64') && typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
    if (typeof v === 'number' || typeof v === 'boolean' || v instanceof Uint8Array) return v;
    throw fail(`Expected ${datatype} values in ${what}'s ${field}, got ${typeof v}`);
  });
  try {
    return makeTensor(name, datatype, shape, values);
  } catch (error) {
    throw new HarnessError('PROTOCOL_ERROR', `The infer response's ${what} does not hold together: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** ModelMetadata's response (dims as int64 strings) as ModelMetadata. */
export function readMetadataResponse(reply: Record<string, unknown>): ModelMetadata {
  return readModelMetadata(reply);
}
