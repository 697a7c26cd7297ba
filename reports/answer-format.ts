/** The answer table's cells as text, shared by the terminal (answer.ts) and report.html (answer-html.ts). */
import type { AddedCost, AnswerRow } from './answer.js';
import { formatDuration, formatDurationInterval, type MicroSymbol } from './units.js';

/** Columns padded to their widest cell; the last column is left ragged. */
export function table(lines: readonly (readonly string[])[]): string[] {
  const widths = (lines[0] ?? []).map((_, i) => Math.max(...lines.map((l) => (l[i] ?? '').length)));
  return lines.map((l) => `  ${l.map((cell, i) => (i === l.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd());
}

/** `+10.7 us [10.2, 11.1] over native-pair`, `+136 us [128, 144], 7.7%`. */
export function addedText(a: AddedCost | undefined, micro: MicroSymbol): string {
  if (a === undefined) return '';
  const interval = a.rounds > 1 ? formatDurationInterval(a.estimate, a.low, a.high, micro) : formatDuration(a.estimate, micro);
  return `${a.estimate >= 0 ? '+' : ''}${interval}${a.pct === undefined ? '' : `, ${a.pct.toFixed(1)}%`}`;
}

export function p50Text(r: AnswerRow, micro: MicroSymbol): string {
  if (r.p50Us === undefined) return '';
  return r.p50Interval === undefined ? formatDuration(r.p50Us, micro) : formatDurationInterval(r.p50Us, r.p50Interval[0], r.p50Interval[1], micro);
}

export function stableText(r: AnswerRow): string {
  return r.stable === undefined ? '' : r.stable ? 'yes' : `no (${r.unstableReason ?? 'unknown'})`;
}

/** The over-what of the added column: `model compute`, `native-pair`. */
export function addedOver(rows: readonly AnswerRow[]): string {
  const over = [...new Set(rows.flatMap((r) => (r.added === undefined ? [] : [r.added.over])))];
  return over.length === 0 ? '' : over.join(' / ');
}

