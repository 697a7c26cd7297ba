/**
 * Latency recording with bounded memory: an HDR histogram (3 significant digits) for percentiles,
 * Welford's running mean and variance (exact), exact min and max, and a uniform reservoir of raw
 * samples for the significance tests and bootstrap intervals.
 */
import * as hdr from 'hdr-histogram-js';

export interface LatencySummary {
  readonly count: number;
  readonly minUs: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
  readonly meanUs: number;
  readonly stddevUs: number;
}

export interface LatencyRecorder {
  /** Record one latency in nanoseconds. */
  record(ns: number): void;
  readonly count: number;
  summary(): LatencySummary | undefined;
  /** Up to `reservoirSize` raw samples (microseconds), uniformly drawn from everything recorded. */
  samplesUs(): number[];
  /** The histogram, HdrHistogram's compressed base64 form (values in ns). */
  encodedHistogram(): string;
  /** Percentile (0-100) of what was recorded, in microseconds. */
  percentileUs(p: number): number;
}

const HIGHEST_NS = 3_600_000_000_000; // one hour

export function createRecorder(reservoirSize = 5_000, random: () => number = Math.random): LatencyRecorder {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_NS, numberOfSignificantValueDigits: 3 });
  const reservoir: number[] = [];
  let count = 0;
  let mean = 0;
  let m2 = 0;
  let min = Infinity;
  let max = -Infinity;
  return {
    record(ns) {
      const value = Math.min(Math.max(1, Math.round(ns)), HIGHEST_NS);
      histogram.recordValue(value);
      count += 1;
      const delta = ns - mean;
      mean += delta / count;
      m2 += delta * (ns - mean);
      if (ns < min) min = ns;
      if (ns > max) max = ns;
      if (reservoir.length < reservoirSize) reservoir.push(ns / 1000);
      else {
        const slot = Math.floor(random() * count);
        if (slot < reservoirSize) reservoir[slot] = ns / 1000;
      }
    },
    get count() {
      return count;
    },
    summary() {
      if (count === 0) return undefined;
      const at = (p: number): number => histogram.getValueAtPercentile(p) / 1000;
      return {
        count,
        minUs: min / 1000,
        p50Us: at(50),
        p90Us: at(90),
        p99Us: at(99),
        p999Us: at(99.9),
        maxUs: max / 1000,
        meanUs: mean / 1000,
        stddevUs: count > 1 ? Math.sqrt(m2 / (count - 1)) / 1000 : 0,
      };
    },
    samplesUs: () => [...reservoir],
    encodedHistogram: () => hdr.encodeIntoCompressedBase64(histogram),
    percentileUs: (p) => histogram.getValueAtPercentile(p) / 1000,
  };
}
