/**
 * Whether every wire returns what the model returns in-process, request by request: the same
 * outputs (names, datatypes, shapes), integers, BOOL and BYTES exactly, floats within the
 * tolerance (|got - expected| <= tolerance + tolerance * |expected|; NaN equals NaN), using the
 * transports' own comparison (transports/tensor-compare.ts).
 */
import { compareOutputs } from '../../transports/tensor-compare.js';
import type { Tensor } from '../../transports/types.js';
import type { RunCheck } from '../results.js';

/** The default `--float-tolerance`, relative and absolute alike (so values near zero are not held to a relative bound alone). */
export const DEFAULT_FLOAT_TOLERANCE = 1e-5;

/** Each request's outputs as one arm returned them (undefined: not answered). */
export type OutputsByRequest = (readonly Tensor[] | undefined)[];

export interface Mismatch {
  readonly arm: string;
  readonly request: number;
  readonly reason: string;
}

/** The run check: every arm's outputs agree with the in-process reference's, request by request. */
export function modelAgreementCheck(reference: OutputsByRequest, byArm: ReadonlyMap<string, OutputsByRequest>, tolerance: number): RunCheck {
  const name = 'model: agreement';
  const arms = [...byArm.keys()];
  const unanswered = reference.findIndex((r) => r === undefined);
  if (reference.length === 0 || unanswered >= 0) {
    return { name, ok: false, detail: `not measured: the in-process model, the reference, did not answer request ${Math.max(0, unanswered)} (see the in-process cell)`, data: { tolerance, mismatches: [], arms } };
  }
  const mismatches: Mismatch[] = [];
  const incomplete: string[] = [];
  for (const [arm, outputs] of byArm) {
    if (reference.some((_, request) => outputs[request] === undefined)) incomplete.push(arm);
    outputs.forEach((got, request) => {
      if (got === undefined) return;
      const agreement = compareOutputs(reference[request] as readonly Tensor[], got, { absolute: tolerance, relative: tolerance });
      if (!agreement.ok) mismatches.push({ arm, request, reason: agreement.reason });
    });
  }
  const first = mismatches[0];
  const compared = arms.filter((a) => !incomplete.includes(a));
  const detail =
    first !== undefined
      ? `${mismatches.length} of the replies differ from the in-process model's; first: ${first.arm}, request ${first.request}: ${first.reason} (float tolerance ${tolerance})`
      : compared.length === 0
        ? 'no transport answered every request'
        : `all ${reference.length} requests answered alike in-process and over ${compared.join(', ')} (float tolerance ${tolerance})${incomplete.length > 0 ? `; not every request answered (see those cells' errors): ${incomplete.join(', ')}` : ''}`;
  return { name, ok: first === undefined && compared.length > 0, detail, data: { tolerance, mismatches: mismatches.slice(0, 50), arms, incomplete } };
}
