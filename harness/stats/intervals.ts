/**
 * Intervals over rounds. An interleaved group gives each cell one figure per round (its p50 in
 * that round's block); a ratio is taken per round, so the machine's drift between rounds cancels.
 * The estimate is the median of those per-round values and its 95% interval the distribution-free
 * one for a median: the k-th smallest and k-th largest values, k chosen from the binomial
 * distribution (Conover, Practical Nonparametric Statistics, 3.3). No resampling, no normality,
 * the same answer every time; it needs at least 6 values to reach 95% coverage.
 */

export interface Interval {
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
  /** How many per-round values it came from. */
  readonly n: number;
  /** Whether the interval reaches the requested coverage (false below MIN_VALUES_FOR_95). */
  readonly covered: boolean;
}

/** Below this many values no order-statistic interval covers the median with 95% confidence. */
export const MIN_VALUES_FOR_95 = 6;

/**
 * The rank k (1-based) such that [x(k), x(n+1-k)] covers the median with at least `confidence`,
 * as narrow as possible; 1 (the whole range) when even that falls short. Coverage of rank k is
 * 1 - 2 P(X <= k-1) for X ~ Binomial(n, 1/2), summed here in log space so large n cannot underflow.
 */
export function orderStatisticRank(n: number, confidence = 0.95): number {
  const alpha = 1 - confidence;
  const last = Math.floor((n + 1) / 2); // beyond this the ends would cross
  let logTerm = -n * Math.LN2; // log(C(n, 0) / 2^n)
  let cdf = Math.exp(logTerm);
  let k = 1;
  for (let j = 1; j < last; j++) {
    logTerm += Math.log((n - j + 1) / j);
    cdf += Math.exp(logTerm); // P(X <= j): the miss probability of rank j + 1, on one side
    if (2 * cdf > alpha) break;
    k = j + 1;
  }
  return k;
}

/** 1 - 2 P(X <= k-1): the coverage of the rank-k interval over n values. */
function coverage(n: number, k: number): number {
  let logTerm = -n * Math.LN2;
  let cdf = Math.exp(logTerm);
  for (let j = 1; j <= k - 1; j++) {
    logTerm += Math.log((n - j + 1) / j);
    cdf += Math.exp(logTerm);
  }
  return 1 - 2 * cdf;
}

/** Median of already sorted values. */
function sortedMedian(sorted: readonly number[]): number {
  const n = sorted.length;
  const mid = n >> 1;
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The median of `values` with its distribution-free 95% interval; NaNs are ignored. */
export function medianInterval(values: readonly number[], confidence = 0.95): Interval | undefined {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return undefined;
  const k = orderStatisticRank(n, confidence);
  return {
    estimate: sortedMedian(sorted),
    low: sorted[k - 1] as number,
    high: sorted[n - k] as number,
    n,
    covered: coverage(n, k) >= confidence,
  };
}

/**
 * Per-round ratios `a[r] / b[r]` for the rounds both have (matched by round number), skipping
 * rounds where either is missing or the divisor is not positive.
 */
export function perRoundRatios(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): number[] {
  const out: number[] = [];
  for (const [round, x] of a) {
    const y = b.get(round);
    if (y !== undefined && y > 0 && Number.isFinite(x)) out.push(x / y);
  }
  return out;
}

/** Per-round differences `a[r] - b[r]` for the rounds both have. */
export function perRoundDifferences(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): number[] {
  const out: number[] = [];
  for (const [round, x] of a) {
    const y = b.get(round);
    if (y !== undefined && Number.isFinite(x) && Number.isFinite(y)) out.push(x - y);
  }
  return out;
}

/** The largest distance from the estimate to either end of the interval, as a fraction of the estimate. */
export function relativeHalfWidth(interval: Interval): number {
  const e = Math.abs(interval.estimate);
  if (e === 0) return interval.high === interval.low ? 0 : Number.POSITIVE_INFINITY;
  return Math.max(interval.estimate - interval.low, interval.high - interval.estimate) / e;
}

/**
 * One series from several replicas measured in the same rounds (`ab --replicas`): per round, the
 * geometric mean of the replicas' figures, over the rounds every replica has a finite, positive
 * figure for. Each replica is its own set of processes, so what one process set happens to cost
 * (memory layout, JIT decisions) is averaged out instead of read as the code's.
 */
export function replicaSeries(replicas: readonly ReadonlyMap<number, number>[]): Map<number, number> {
  const out = new Map<number, number>();
  const first = replicas[0];
  if (first === undefined) return out;
  for (const round of first.keys()) {
    const values = replicas.map((r) => r.get(round));
    if (values.every((v): v is number => v !== undefined && Number.isFinite(v) && v > 0)) {
      out.set(round, Math.exp(values.reduce((sum, v) => sum + Math.log(v), 0) / values.length));
    }
  }
  return out;
}
