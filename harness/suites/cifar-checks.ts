/** Run-level CIFAR checks: accuracy (full set and the bit-exact subset), confusion matrix, agreement, label text. */
import { HarnessError } from '../../transports/errors.js';
import type { RunCheck } from '../results.js';
import type { CifarWorkload } from './cifar-workload.js';

export const MIN_ACCURACY = 0.7;
/** A class index no model returns: the image was never classified. */
export const UNCLASSIFIED = 255;

function topOne(predicted: Uint8Array, labels: Uint8Array, count: number): number {
  let right = 0;
  for (let i = 0; i < count; i++) if (predicted[i] === labels[i]) right += 1;
  return count === 0 ? Number.NaN : right / count;
}

export function accuracyChecks(w: CifarWorkload, predicted: Uint8Array): RunCheck[] {
  if (w.labels === undefined) {
    return [{ name: 'cifar: accuracy', ok: true, detail: `not applicable: ${w.source} has no labels (generated images)` }];
  }
  if (predicted.includes(UNCLASSIFIED)) {
    return [{ name: 'cifar: accuracy', ok: false, detail: 'not measured: the in-process model did not classify every image (see the in-process cells)' }];
  }
  const labels = w.labels;
  const n = predicted.length;
  const all = topOne(predicted, labels, n);
  const exactN = Math.min(w.exactCount, n);
  const exact = topOne(predicted, labels, exactN);
  const matrix = w.classNames.map(() => w.classNames.map(() => 0));
  for (let i = 0; i < n; i++) {
    const row = matrix[labels[i] as number];
    if (row !== undefined) row[predicted[i] as number] = (row[predicted[i] as number] ?? 0) + 1;
  }
  return [
    {
      name: 'cifar: accuracy',
      ok: all >= MIN_ACCURACY,
      detail: `top-1 ${(all * 100).toFixed(2)}% on ${n} test images; ${(exact * 100).toFixed(2)}% on the ${exactN} bit-exact ones (need >= ${MIN_ACCURACY * 100}%)`,
      data: { accuracy: all, images: n, exactAccuracy: exact, exactImages: exactN },
    },
    { name: 'cifar: confusion', ok: true, detail: 'rows: true class, columns: predicted class', data: { labels: w.classNames, matrix } },
  ];
}

/** Every transport must return the in-process class for every image; one mismatch fails the run. */
export function agreementCheck(reference: Uint8Array, byTransport: ReadonlyMap<string, Uint8Array>, classNames: readonly string[]): RunCheck {
  if (reference.includes(UNCLASSIFIED)) {
    return { name: 'cifar: agreement', ok: false, detail: 'not measured: the in-process model, the reference, did not classify every image', data: { mismatches: [], transports: [...byTransport.keys()] } };
  }
  const mismatches: { transport: string; image: number; expected: string; got: string }[] = [];
  for (const [name, predicted] of byTransport) {
    for (let i = 0; i < reference.length; i++) {
      if (predicted[i] !== reference[i]) {
        mismatches.push({ transport: name, image: i, expected: classNames[reference[i] as number] ?? '?', got: classNames[predicted[i] as number] ?? String(predicted[i]) });
      }
    }
  }
  const names = [...byTransport.keys()].join(', ');
  return {
    name: 'cifar: agreement',
    ok: mismatches.length === 0 && byTransport.size > 0,
    detail:
      byTransport.size === 0
        ? 'no transport completed a single-stream pass'
        : mismatches.length === 0
          ? `all ${reference.length} images classified identically in-process and over ${names}`
          : `${mismatches.length} disagreements with the in-process classes, first: ${JSON.stringify(mismatches[0])}`,
    data: { mismatches: mismatches.slice(0, 50), transports: [...byTransport.keys()] },
  };
}

/** Replies that named their class (framed type 1), and each name that is not a class, with its count. */
export interface LabelTexts {
  named: number;
  readonly unknown: Map<string, number>;
}

/** Keep the name an UNKNOWN_LABEL failure carries; returns the error unchanged. */
export function noteUnknown(error: unknown, texts: LabelTexts): unknown {
  if (error instanceof HarnessError && error.code === 'UNKNOWN_LABEL') {
    const name = String(error.details['label']);
    texts.unknown.set(name, (texts.unknown.get(name) ?? 0) + 1);
  }
  return error;
}

/** Every class a server named must be one of the data set's: a name that is not cannot be scored. */
export function labelTextCheck(texts: LabelTexts, classNames: readonly string[]): RunCheck {
  const unknown = [...texts.unknown].sort((a, b) => b[1] - a[1]);
  const replies = unknown.reduce((n, [, count]) => n + count, 0);
  return {
    name: 'cifar: label text',
    ok: unknown.length === 0,
    detail:
      unknown.length === 0
        ? `all ${texts.named} replies that named their class named one of the ${classNames.length} classes`
        : `${replies} replies named a class that is not one of ${classNames.join(', ')}: ${unknown.slice(0, 5).map(([name, count]) => `${JSON.stringify(name)} (${count})`).join(', ')}`,
    data: { named: texts.named, unknown: Object.fromEntries(unknown.slice(0, 50)) },
  };
}
