/**
 * Whether two tensors (or two output lists) agree: the same name, datatype and shape, then every
 * element exactly for integers, BOOL and BYTES, and within a tolerance for floats, where NaN equals
 * NaN and an infinity only itself. The same model answering over two wires, or a wire against an
 * in-process reference, should agree this way (the `model` suite's agreement check).
 */
import type { Tensor } from './types.js';
import { isFloat, tensorValues, type TensorValue } from './tensors.js';

export interface Tolerance {
  /** Allowed |a - b| regardless of magnitude. */
  readonly absolute: number;
  /** Allowed |a - b| as a fraction of |expected|, added to `absolute`. */
  readonly relative: number;
}

/** Exact: for a wire that only moves bytes, anything else is a bug. */
export const EXACT: Tolerance = { absolute: 0, relative: 0 };

export type Agreement = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const AGREE: Agreement = { ok: true };

function floatsAgree(expected: number, actual: number, tolerance: Tolerance): boolean {
  if (Number.isNaN(expected) || Number.isNaN(actual)) return Number.isNaN(expected) && Number.isNaN(actual);
  if (!Number.isFinite(expected) || !Number.isFinite(actual)) return expected === actual;
  return Math.abs(expected - actual) <= tolerance.absolute + tolerance.relative * Math.abs(expected);
}

function valuesAgree(expected: TensorValue, actual: TensorValue): boolean {
  if (expected instanceof Uint8Array && actual instanceof Uint8Array) return Buffer.from(expected).equals(actual);
  return expected === actual;
}

const show = (value: TensorValue | undefined): string => (value instanceof Uint8Array ? `bytes(${value.length})` : String(value));

/** `actual` against `expected`: the first difference, if any, as a reason that names the tensor and index. */
export function compareTensors(expected: Tensor, actual: Tensor, tolerance: Tolerance = EXACT): Agreement {
  const what = `tensor \`${expected.name}\``;
  if (expected.name !== actual.name) return { ok: false, reason: `Expected tensor \`${expected.name}\`, got \`${actual.name}\`` };
  if (expected.datatype !== actual.datatype) return { ok: false, reason: `Expected ${what} to be ${expected.datatype}, got ${actual.datatype}` };
  if (expected.shape.length !== actual.shape.length || expected.shape.some((d, i) => actual.shape[i] !== d)) {
    return { ok: false, reason: `Expected ${what} to have shape ${JSON.stringify(expected.shape)}, got ${JSON.stringify(actual.shape)}` };
  }
  const a = tensorValues(expected);
  const b = tensorValues(actual);
  if (a.length !== b.length) return { ok: false, reason: `Expected ${a.length} elements in ${what}, got ${b.length}` };
  const float = isFloat(expected.datatype);
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as TensorValue;
    const y = b[i] as TensorValue;
    const same = float ? floatsAgree(x as number, y as number, tolerance) : valuesAgree(x, y);
    if (!same) return { ok: false, reason: `${what} differs at element ${i}: expected ${show(x)}, got ${show(y)}` };
  }
  return AGREE;
}

/** Two output lists, matched by name (order may differ between wires): every expected one present and agreeing, no extra ones. */
export function compareOutputs(expected: readonly Tensor[], actual: readonly Tensor[], tolerance: Tolerance = EXACT): Agreement {
  const byName = new Map(actual.map((t) => [t.name, t]));
  if (byName.size !== actual.length) return { ok: false, reason: `Expected output names to be unique, got ${actual.map((t) => t.name).join(', ')}` };
  for (const want of expected) {
    const got = byName.get(want.name);
    if (got === undefined) return { ok: false, reason: `Expected output \`${want.name}\`, got only ${actual.map((t) => `\`${t.name}\``).join(', ') || 'none'}` };
    const agreement = compareTensors(want, got, tolerance);
    if (!agreement.ok) return agreement;
    byName.delete(want.name);
  }
  if (byName.size > 0) return { ok: false, reason: `Unexpected output(s) ${[...byName.keys()].map((n) => `\`${n}\``).join(', ')}` };
  return AGREE;
}
