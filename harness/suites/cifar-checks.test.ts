import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../transports/errors.js';
import { accuracyChecks, agreementCheck, labelTextCheck, MIN_ACCURACY, noteUnknown, UNCLASSIFIED } from './cifar-checks.js';
import type { CifarWorkload } from './cifar-workload.js';

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const labels = Uint8Array.from({ length: 100 }, (_, i) => i % 10);
const workload: CifarWorkload = { images: new Uint8Array(100 * 3072), labels, classNames: CLASSES, exactCount: 40, source: 'test' };

/** `labels` with the first `wrong` answers moved to the next class. */
function predictions(wrong: number): Uint8Array {
  return labels.map((l, i) => (i < wrong ? (l + 1) % 10 : l));
}

describe('cifar: accuracy', () => {
  it('passes at the bar and fails just under it', () => {
    const atBar = Math.round(100 * (1 - MIN_ACCURACY));
    const [ok] = accuracyChecks(workload, predictions(atBar));
    expect(ok).toMatchObject({ name: 'cifar: accuracy', ok: true });
    expect((ok?.data as { accuracy: number }).accuracy).toBeCloseTo(MIN_ACCURACY, 9);
    const [under] = accuracyChecks(workload, predictions(atBar + 1));
    expect(under).toMatchObject({ name: 'cifar: accuracy', ok: false });
    expect(under?.detail).toContain('69.00%');
  });

  it('fails when the model did not classify every image, and does not apply to unlabelled images', () => {
    const missing = predictions(0);
    missing[7] = UNCLASSIFIED;
    expect(accuracyChecks(workload, missing)[0]?.ok).toBe(false);
    expect(accuracyChecks({ ...workload, labels: undefined }, predictions(90))[0]).toMatchObject({ ok: true, detail: expect.stringContaining('not applicable') });
  });

  it('counts the confusion matrix: rows true class, columns predicted', () => {
    const confusion = accuracyChecks(workload, predictions(1))[1];
    const matrix = (confusion?.data as { matrix: number[][] }).matrix;
    expect(matrix[0]?.[1]).toBe(1); // the one airplane called an automobile
    expect(matrix[0]?.[0]).toBe(9);
    expect(matrix.flat().reduce((a, b) => a + b, 0)).toBe(100);
  });
});

describe('cifar: agreement', () => {
  it('passes when every transport returns the in-process class for every image', () => {
    const check = agreementCheck(labels, new Map([['framed/unix', predictions(0)], ['grpc/tcp', predictions(0)]]), CLASSES);
    expect(check.ok).toBe(true);
    expect(check.detail).toContain('framed/unix, grpc/tcp');
  });

  it('fails on one mismatched label, naming the transport, image and classes', () => {
    const check = agreementCheck(labels, new Map([['framed/unix', predictions(0)], ['grpc/tcp', predictions(1)]]), CLASSES);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain('1 disagreements');
    expect((check.data as { mismatches: unknown[] }).mismatches[0]).toEqual({ transport: 'grpc/tcp', image: 0, expected: 'airplane', got: 'automobile' });
  });

  it('fails when no transport completed a pass, or the reference is incomplete', () => {
    expect(agreementCheck(labels, new Map(), CLASSES).ok).toBe(false);
    const incomplete = predictions(0);
    incomplete[3] = UNCLASSIFIED;
    expect(agreementCheck(incomplete, new Map([['framed/unix', predictions(0)]]), CLASSES).ok).toBe(false);
  });
});

describe('cifar: label text', () => {
  it('passes when every named class is a class, and fails naming the ones that are not, most frequent first', () => {
    expect(labelTextCheck({ named: 30, unknown: new Map() }, CLASSES)).toMatchObject({ ok: true, detail: 'all 30 replies that named their class named one of the 10 classes' });
    const texts = { named: 30, unknown: new Map() };
    for (const name of ['griffin', 'Cat', 'griffin']) noteUnknown(new HarnessError('UNKNOWN_LABEL', 'x', { details: { label: name } }), texts);
    noteUnknown(new HarnessError('TIMEOUT', 'late'), texts);
    const check = labelTextCheck(texts, CLASSES);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain('3 replies named a class that is not one of airplane');
    expect(check.detail).toContain('"griffin" (2), "Cat" (1)');
    expect(check.data).toEqual({ named: 30, unknown: { griffin: 2, Cat: 1 } });
  });
});
