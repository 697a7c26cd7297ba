import { describe, expect, it } from 'vitest';
import { MIN_VALUES_FOR_95, medianInterval, orderStatisticRank, perRoundDifferences, perRoundRatios, relativeHalfWidth } from './intervals.js';
import { mulberry32 } from '../../datasets/random.js';

describe('order-statistic intervals for a median', () => {
  it('picks the textbook ranks (Conover, table A3)', () => {
    // n -> k with [x(k), x(n+1-k)] covering at least 95%.
    expect(orderStatisticRank(6)).toBe(1);
    expect(orderStatisticRank(9)).toBe(2);
    expect(orderStatisticRank(10)).toBe(2);
    expect(orderStatisticRank(11)).toBe(2);
    expect(orderStatisticRank(12)).toBe(3);
    expect(orderStatisticRank(20)).toBe(6);
    expect(orderStatisticRank(100)).toBe(40);
  });

  it('does not underflow for long runs', () => {
    const k = orderStatisticRank(5000);
    // Normal approximation: n/2 - 1.96 sqrt(n)/2 = 2430.7.
    expect(k).toBeGreaterThanOrEqual(2428);
    expect(k).toBeLessThanOrEqual(2432);
  });

  it('reports the median, the ranked ends, and whether 95% is reached', () => {
    const values = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10];
    const i = medianInterval(values)!;
    expect(i.estimate).toBe(5.5);
    expect([i.low, i.high]).toEqual([2, 9]);
    expect(i.n).toBe(10);
    expect(i.covered).toBe(true);
    const short = medianInterval([3, 1, 2, 5, 4])!;
    expect(short.covered).toBe(false);
    expect([short.low, short.high]).toEqual([1, 5]);
    expect(medianInterval([1, 2, 3, 4, 5, 6])!.covered).toBe(MIN_VALUES_FOR_95 === 6);
    expect(medianInterval([])).toBeUndefined();
    expect(medianInterval([Number.NaN, 4])!.estimate).toBe(4);
  });

  it('covers the true median about 95% of the time (simulation)', () => {
    const random = mulberry32(7);
    let hits = 0;
    const trials = 2000;
    for (let t = 0; t < trials; t++) {
      const values = Array.from({ length: 15 }, () => -Math.log(1 - random())); // exponential, median ln 2
      const i = medianInterval(values)!;
      if (i.low <= Math.LN2 && Math.LN2 <= i.high) hits += 1;
    }
    expect(hits / trials).toBeGreaterThan(0.94);
    expect(hits / trials).toBeLessThan(0.995);
  });
});

describe('per-round pairing', () => {
  it('pairs rounds by number and skips the unpaired and the zero divisors', () => {
    const a = new Map([[0, 10], [1, 12], [2, 9], [4, 5]]);
    const b = new Map([[0, 5], [1, 4], [2, 0], [3, 1]]);
    expect(perRoundRatios(a, b)).toEqual([2, 3]);
    expect(perRoundDifferences(a, b)).toEqual([5, 8, 9]);
  });

  it('measures the width of an interval relative to its estimate', () => {
    expect(relativeHalfWidth({ estimate: 2, low: 1.8, high: 2.1, n: 10, covered: true })).toBeCloseTo(0.1, 12);
    expect(relativeHalfWidth({ estimate: 0, low: 0, high: 0, n: 10, covered: true })).toBe(0);
  });
});
