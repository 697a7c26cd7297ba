/**
 * Numbers in human units, one set of rules for the terminal, the report and the charts: a time is
 * shown in µs, ms or s with three significant digits (never `144703.5us`), a size in B, KiB or MiB.
 */

/** `µs` for the report; `us` for a terminal or a log that may not be UTF-8. */
export type MicroSymbol = 'µs' | 'us';

function threeDigits(x: number): string {
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

/** 0.15 µs, 24.9 µs, 1.91 ms, 145 ms, 2.31 s. */
export function formatDuration(us: number | undefined, micro: MicroSymbol = 'µs'): string {
  if (us === undefined || !Number.isFinite(us)) return '';
  const a = Math.abs(us);
  if (a < 999.5) return `${threeDigits(us)} ${micro}`;
  if (a < 999_500) return `${threeDigits(us / 1000)} ms`;
  return `${threeDigits(us / 1e6)} s`;
}

/**
 * An estimate with its interval in the estimate's unit: `24.9 µs [24.6, 25.3]`, `1.91 ms [1.88, 1.95]`.
 * The interval's ends are written in the same unit as the estimate so the eye compares digits.
 */
export function formatDurationInterval(us: number, low: number, high: number, micro: MicroSymbol = 'µs'): string {
  const a = Math.abs(us);
  const [scale, unit] = a < 999.5 ? [1, micro] : a < 999_500 ? [1000, 'ms'] : [1e6, 's'];
  return `${threeDigits(us / scale)} ${unit} [${threeDigits(low / scale)}, ${threeDigits(high / scale)}]`;
}

/** 600 B, 3 KiB, 64 KiB, 1 MiB, 1.5 MiB. */
export function formatBytes(bytes: number): string {
  const trim = (x: number): string => String(Number(x.toFixed(2)));
  if (bytes >= 1_048_576) return `${trim(bytes / 1_048_576)} MiB`;
  if (bytes >= 1024) return `${trim(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

/** A ratio in words' digits: 1.07, 19.3, 254. */
export function formatTimes(x: number): string {
  return threeDigits(x);
}
