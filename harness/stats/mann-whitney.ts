/**
 * Two-sided Mann-Whitney U test (Wilcoxon rank-sum) with the normal approximation, tie correction
 * and continuity correction: the same p-value as scipy.stats.mannwhitneyu(a, b, method='asymptotic').
 * Rank-based, so it suits latency samples, which are skewed and heavy-tailed.
 */

export interface MannWhitneyResult {
  /** U of the first sample: how many (a, b) pairs have a > b, ties counting a half. */
  readonly u: number;
  /** Standardised statistic, continuity-corrected toward zero; positive when `a` tends to be larger. */
  readonly z: number;
  /** Two-sided p-value; 1 when either sample is empty or every value is tied. */
  readonly pValue: number;
  readonly n1: number;
  readonly n2: number;
}

/** erfc(x), Numerical Recipes' Chebyshev fit (fractional error below 1.2e-7 everywhere). */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const r = t * Math.exp(-x * x + poly);
  return x >= 0 ? r : 2 - r;
}

/** P(Z > z) for a standard normal Z. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Sum of the first sample's ranks in the pooled data (ties get their average rank) and the tie term sum(t^3 - t). */
function rankSum(a: readonly number[], b: readonly number[]): { r1: number; ties: number } {
  const pooled = [...a.map((v) => ({ v, first: true })), ...b.map((v) => ({ v, first: false }))].sort((x, y) => x.v - y.v);
  let r1 = 0;
  let ties = 0;
  for (let i = 0; i < pooled.length; ) {
    let j = i;
    while (j + 1 < pooled.length && (pooled[j + 1] as { v: number }).v === (pooled[i] as { v: number }).v) j += 1;
    const rank = (i + j) / 2 + 1;
    const t = j - i + 1;
    ties += t ** 3 - t;
    for (let k = i; k <= j; k++) if ((pooled[k] as { first: boolean }).first) r1 += rank;
    i = j + 1;
  }
  return { r1, ties };
}

export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitneyResult {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: Number.NaN, z: 0, pValue: 1, n1, n2 };
  const n = n1 + n2;
  const { r1, ties } = rankSum(a, b);
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const mu = (n1 * n2) / 2;
  const sigma = Math.sqrt(((n1 * n2) / 12) * (n + 1 - ties / (n * (n - 1))));
  if (!(sigma > 0)) return { u, z: 0, pValue: 1, n1, n2 };
  const distance = Math.max(0, Math.abs(u - mu) - 0.5);
  const z = (Math.sign(u - mu) * distance) / sigma;
  return { u, z, pValue: Math.min(1, 2 * normalSf(distance / sigma)), n1, n2 };
}
