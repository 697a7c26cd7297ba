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


export function bootstrapCi(values: readonly number[], statistic: Statistic, resamples = 400, seed = 1): [number, number] {
  const n = values.length;
  if (n === 0) return [Number.NaN, Number.NaN];
  // Cap the resample size: the interval's width is governed by n, but its cost by n x resamples.
  const m = Math.min(n, 2000);
  const random = mulberry32(seed);
  const stat = statistic === 'median' ? median : mean;
  const estimates: number[] = [];
  const draw = new Array<number>(m);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < m; i++) draw[i] = values[Math.floor(random() * n)] as number;
    estimates.push(stat(draw));
  }
  estimates.sort((a, b) => a - b);
  const scale = Math.sqrt(m / n); // widths shrink as 1/sqrt(n): rescale from the capped size
  const centre = stat(values);
  const lo = estimates[Math.floor(0.025 * (resamples - 1))] as number;
  const hi = estimates[Math.ceil(0.975 * (resamples - 1))] as number;
  return [centre - (centre - lo) * scale, centre + (hi - centre) * scale];
}
