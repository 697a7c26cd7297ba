/**
 * Measurement windows and the stability rule (perf_analyzer's): a cell is stable once its last
 * three windows agree within +-stabilityPct in both throughput and p50.
 */
export interface WindowStat {
  readonly requests: number;
  readonly throughputRps: number;
  readonly p50Us: number;
}

const STABLE_WINDOWS = 3;

export function windowStat(latenciesNs: readonly number[], durationNs: number): WindowStat {
  const sorted = [...latenciesNs].sort((a, b) => a - b);
  const mid = sorted.length === 0 ? 0 : (sorted[Math.floor((sorted.length - 1) / 2)] ?? 0);
  return { requests: sorted.length, throughputRps: durationNs > 0 ? (sorted.length * 1e9) / durationNs : 0, p50Us: mid / 1000 };
}

export function isStable(windows: readonly WindowStat[], stabilityPct: number): boolean {
  if (windows.length < STABLE_WINDOWS) return false;
  const last = windows.slice(-STABLE_WINDOWS);
  if (last.some((w) => w.requests === 0)) return false;
  return within(last.map((w) => w.throughputRps), stabilityPct) && within(last.map((w) => w.p50Us), stabilityPct);
}

function within(values: readonly number[], pct: number): boolean {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  if (mean === 0) return true;
  return values.every((v) => (Math.abs(v - mean) / mean) * 100 <= pct);
}
