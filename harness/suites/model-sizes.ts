/**
 * The model suite at chosen tensor sizes (`--tensor-bytes 1KiB,64KiB,1MiB,4MiB`): the model's free
 * (`-1`) dimensions filled so that each request's inputs come to about that many bytes, for the
 * question "REST JSON vs REST binary vs gRPC raw contents as tensors grow". One measured group per size.
 */
import { HarnessError } from '../../transports/errors.js';
import { ELEMENT_BYTES } from '../../transports/tensors.js';
import type { ModelMetadata, TensorSpec } from '../../transports/types.js';

/**
 * What a synthesised BYTES element is counted as: its u32 length and a phrase of one to three
 * short words (model-inputs.ts), about 12 characters. An estimate: BYTES has no fixed size.
 */
export const BYTES_ELEMENT_ESTIMATE = 16;

/**
 * Distinct requests kept in memory per size: above it, fewer distinct requests are made and the
 * measured ones cycle through them (every arm's answers are kept for the agreement check, so
 * 200 distinct 4 MiB requests would hold gigabytes).
 */
export const DISTINCT_BYTES_BUDGET = 32 * 1024 * 1024;

/** One size of the model's requests. */
export interface SizedInputs {
  /** The size asked for: the cell key's `payloadBytes`. */
  readonly targetBytes: number;
  /** Each input's shape, in the metadata's order. */
  readonly shapes: readonly (readonly number[])[];
  /** The inputs' bytes at those shapes (BYTES estimated): what a request really carries. */
  readonly bytes: number;
  /** The value every sized dimension got. */
  readonly dim: number;
  /** Which dimensions were sized, for the run's check: `features[0], ids[1]`. */
  readonly sized: string;
}

const elementBytes = (spec: TensorSpec): number => (spec.datatype === 'BYTES' ? BYTES_ELEMENT_ESTIMATE : ELEMENT_BYTES[spec.datatype]);

/**
 * Which `-1`s are sized: every one past the leading (batch) dimension; where the model has none,
 * the leading ones (the echo model's `payload UINT8 [-1]` is sized by its only dimension; a model
 * of fixed-width rows such as `[-1, 32]` by how many rows one request carries).
 */
function sizedDims(metadata: ModelMetadata): boolean[][] {
  const inner = metadata.inputs.map((s) => s.shape.map((d, i) => d < 0 && i > 0));
  if (inner.some((dims) => dims.includes(true))) return inner;
  return metadata.inputs.map((s) => s.shape.map((d) => d < 0));
}

function shapesAt(metadata: ModelMetadata, sized: boolean[][], n: number): number[][] {
  return metadata.inputs.map((s, i) => s.shape.map((d, j) => (sized[i]?.[j] === true ? n : d >= 0 ? d : 1)));
}

function bytesOf(metadata: ModelMetadata, shapes: readonly (readonly number[])[]): number {
  return metadata.inputs.reduce((sum, spec, i) => sum + (shapes[i] ?? []).reduce((n, d) => n * d, 1) * elementBytes(spec), 0);
}

/**
 * The shapes whose bytes come nearest `targetBytes`, every sized dimension the same value (at
 * least 1). USAGE when the model has no `-1` to size.
 */
export function sizeInputs(metadata: ModelMetadata, targetBytes: number): SizedInputs {
  const sized = sizedDims(metadata);
  if (!sized.some((dims) => dims.includes(true))) {
    const shapes = metadata.inputs.map((s) => `${s.name} [${s.shape.join(', ')}]`).join(', ');
    throw new HarnessError('USAGE', `\`--tensor-bytes\`: model \`${metadata.name}\` has no -1 dimension to size (its inputs: ${shapes}); its requests are one size`);
  }
  const at = (n: number): number => bytesOf(metadata, shapesAt(metadata, sized, n));
  // bytes(n) grows with n and is at least n (every sized input holds n or more elements of >= 1 byte).
  let low = 1;
  let high = Math.max(1, targetBytes);
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (at(mid) >= targetBytes) high = mid;
    else low = mid + 1;
  }
  const dim = low > 1 && targetBytes - at(low - 1) < at(low) - targetBytes ? low - 1 : low;
  const shapes = shapesAt(metadata, sized, dim);
  const names = metadata.inputs.flatMap((s, i) => (sized[i] ?? []).flatMap((on, j) => (on ? [`${s.name}[${j}]`] : [])));
  return { targetBytes, shapes, bytes: bytesOf(metadata, shapes), dim, sized: names.join(', ') };
}

/** How many distinct requests to make of `bytes` each, when `count` are to be sent (DISTINCT_BYTES_BUDGET). */
export function distinctRequests(count: number, bytes: number): number {
  return Math.max(1, Math.min(count, Math.floor(DISTINCT_BYTES_BUDGET / Math.max(1, bytes))));
}
