import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../datasets/random.js';
import { mannWhitneyU, normalSf } from './mann-whitney.js';

describe('normalSf', () => {
  it('matches the standard normal table', () => {
    expect(normalSf(0)).toBeCloseTo(0.5, 7);
    expect(normalSf(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalSf(2.575829)).toBeCloseTo(0.005, 6);
    expect(normalSf(-1)).toBeCloseTo(0.841344746, 6);
  });
});

describe('mannWhitneyU', () => {
  it("gives scipy's asymptotic answer for the example in its documentation", () => {
    // scipy.stats.mannwhitneyu(males, females, method='asymptotic') -> U=17, p=0.11134688653314041
    const r = mannWhitneyU([19, 22, 16, 29, 24], [20, 11, 17, 12]);
    expect(r.u).toBe(17);
    expect(r.pValue).toBeCloseTo(0.11134688653314041, 6);
    expect(r.z).toBeCloseTo(1.5921683328090657, 9);
  });

  it('corrects for ties (checked by hand)', () => {
    // Ranks: 1->1, 2s->3, 3s->5.5, 4->7, 5->8, 6s->9.5, 7->11. R1 = 19.5, U1 = 4.5, mu = 15,
    // tie term 24 + 6 + 6 = 36, sigma^2 = 30/12 * (12 - 36/110), z = -(25.5 - 15 - 0.5) / sigma.
    const r = mannWhitneyU([1, 2, 2, 3, 4], [2, 3, 5, 6, 6, 7]);
    expect(r.u).toBe(4.5);
    expect(r.z).toBeCloseTo(-1.8511594413390131, 9);
    expect(r.pValue).toBeCloseTo(0.06414661873440443, 6);
  });

  it('is symmetric in its samples', () => {
    const a = [5, 7, 7, 9, 12, 3];
    const b = [8, 8, 10, 14, 15];
    const ab = mannWhitneyU(a, b);
    const ba = mannWhitneyU(b, a);
    expect(ab.pValue).toBeCloseTo(ba.pValue, 12);
    expect(ab.u + ba.u).toBe(a.length * b.length);
    expect(ab.z).toBeCloseTo(-ba.z, 12);
  });

  it('finds nothing between identical samples', () => {
    const random = mulberry32(7);
    const a = Array.from({ length: 2000 }, () => 50 + random() * 10);
    expect(mannWhitneyU(a, [...a]).pValue).toBe(1);
    expect(mannWhitneyU([3, 3, 3], [3, 3]).pValue).toBe(1);
    expect(mannWhitneyU([], [1, 2]).pValue).toBe(1);
  });

  it('finds a shift in large samples, but not in five against five', () => {
    const random = mulberry32(11);
    const noisy = (n: number, centre: number): number[] => Array.from({ length: n }, () => centre * Math.exp((random() - 0.5) * 0.5));
    expect(mannWhitneyU(noisy(2000, 100), noisy(2000, 100)).pValue).toBeGreaterThan(0.01);
    expect(mannWhitneyU(noisy(2000, 100), noisy(2000, 105)).pValue).toBeLessThan(1e-6);
    // Complete separation of 5 vs 5 is the strongest evidence five samples can give: p = 0.0122.
    const r = mannWhitneyU([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
    expect(r.pValue).toBeCloseTo(0.012185780355344818, 6);
    expect(r.pValue).toBeGreaterThan(0.01);
  });
});
