/** Percentile-bootstrap 95% confidence intervals (hyperfine and criterion report the same). */
import { mulberry32 } from './random.js';

export type Statistic = 'median' | 'mean';

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const mid = Math.floor(n / 2);
  return n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}


/** The median of a typed array, sorting it in place (typed-array sort is numeric and fast). */
function medianInPlace(a: Float64Array): number {
  a.sort();
  const mid = a.length >> 1;
  return a.length % 2 === 1 ? (a[mid] as number) : ((a[mid - 1] as number) + (a[mid] as number)) / 2;
}

function meanOf(a: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] as number;
  return sum / a.length;
}

export function bootstrapCi(values: readonly number[], statistic: Statistic, resamples = 300, seed = 1): [number, number] {
  const n = values.length;
  if (n === 0) return [Number.NaN, Number.NaN];
  // Cap the resample size: the interval's width is governed by n, but its cost by n x resamples.
  const m = Math.min(n, 1000);
  const random = mulberry32(seed);
  const source = Float64Array.from(values);
  const draw = new Float64Array(m);
  const estimates = new Float64Array(resamples);
  const stat = statistic === 'median' ? medianInPlace : meanOf;
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < m; i++) draw[i] = source[Math.floor(random() * n)] as number;
    estimates[r] = stat(draw);
  }
  estimates.sort();
  const scale = Math.sqrt(m / n); // widths shrink as 1/sqrt(n): rescale from the capped size
  const centre = statistic === 'median' ? median(values) : mean(values);
  const lo = estimates[Math.floor(0.025 * (resamples - 1))] as number;
  const hi = estimates[Math.ceil(0.975 * (resamples - 1))] as number;
  return [centre - (centre - lo) * scale, centre + (hi - centre) * scale];
}
