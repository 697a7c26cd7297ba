import { describe, expect, it } from 'vitest';
import { createRecorder } from './recorder.js';

describe('latency recorder', () => {
  it('gives percentiles from the data within HDR precision', () => {
    const recorder = createRecorder();
    for (let i = 1; i <= 10_000; i++) recorder.record(i * 1000); // 1..10000 us
    const s = recorder.summary();
    expect(s?.count).toBe(10_000);
    expect(s?.p50Us).toBeCloseTo(5000, -1);
    expect(s?.p99Us).toBeCloseTo(9900, -1);
    expect(s?.p999Us).toBeCloseTo(9990, -1);
    expect(s?.minUs).toBe(1);
    expect(s?.maxUs).toBe(10_000);
    expect(s?.meanUs).toBeCloseTo(5000.5, 6);
    expect(s?.stddevUs).toBeCloseTo(2886.89, 1);
  });

  it('keeps a bounded uniform reservoir', () => {
    const recorder = createRecorder(100);
    for (let i = 0; i < 100_000; i++) recorder.record(i);
    const samples = recorder.samplesUs();
    expect(samples).toHaveLength(100);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(mean).toBeGreaterThan(30);
    expect(mean).toBeLessThan(70);
  });

  it('takes nanoseconds in and gives microseconds out', () => {
    const recorder = createRecorder();
    for (const ns of [1000, 2000, 3000, 4000, 5000]) recorder.record(ns);
    expect(recorder.percentileUs(50)).toBeCloseTo(3, 2);
    expect(recorder.percentileUs(100)).toBeCloseTo(5, 2);
    expect(recorder.summary()?.p50Us).toBeCloseTo(3, 2);
    expect(recorder.summary()?.meanUs).toBe(3);
    expect(recorder.samplesUs().sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
  });

  it('summarises nothing as undefined and encodes its histogram', () => {
    const recorder = createRecorder();
    expect(recorder.summary()).toBeUndefined();
    recorder.record(12_345);
    expect(recorder.encodedHistogram().length).toBeGreaterThan(10);
  });
});
