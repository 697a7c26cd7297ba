/**
 * What a run's flags mean and what to do about them, as plain lines for the terminal and the
 * report: cells measured below a floor that bounds them, and cells that are not stable, by reason.
 */
import type { CellResult, RunResult, UnstableReason } from '../harness/results.js';
import { belowFloor } from './floors.js';
import { formatRatio } from './summary.js';

const WHAT_TO_DO: Record<UnstableReason, string> = {
  'still drifting':
    'their headline figure (the ratio to their floor, or their own median) moved more than the tolerance between rounds: allow more rounds (`--max-rounds 200`), repeat the run (`--trials 3`, then read the median trial), keep `--cpu-pinning shared` on a virtual machine, or run on a quieter machine',
  'too few samples': 'fewer than 6 rounds measured them, too few for a 95% interval: give them more work (`--limit` images or prompts, `--min-rounds`) or longer blocks (`--block-ms`)',
  errors: 'some of their requests failed: the summary table gives the errors by code',
};

export interface Advice {
  /** `95 of 111 cells stable (86%); echo: 90 of 100 (90%)`. */
  readonly headline: string;
  /** One line per kind of problem, with what to do. */
  readonly lines: readonly string[];
}

function share(cells: readonly CellResult[]): string {
  const judged = cells.filter((c) => c.stable !== undefined);
  const stable = judged.filter((c) => c.stable === true).length;
  return `${stable} of ${judged.length} (${judged.length === 0 ? 0 : Math.round((stable / judged.length) * 100)}%)`;
}

export function adviceFor(result: RunResult): Advice {
  const measured = result.cells.filter((c) => c.status === 'ok');
  const suites = [...new Set(measured.map((c) => c.suite))];
  const headline = `stable: ${share(measured)} of the cells measured${suites.length > 1 ? `; ${suites.map((s) => `${s} ${share(measured.filter((c) => c.suite === s))}`).join(', ')}` : ''}`;
  const lines: string[] = [];
  const below = belowFloor(result);
  if (below.length > 0) {
    const list = below.slice(0, 5).map((c) => `${c.id} at ${formatRatio(c.floor!.estimate, c.floor!.low, c.floor!.high)} × ${c.floor!.floor}`).join('; ');
    lines.push(`FASTER THAN ITS FLOOR: ${below.length} cell(s) measured below a floor that bounds them (${list}${below.length > 5 ? '; ...' : ''}). One request at a time no request should beat its floor: something disturbed the measurement (another process on the machine) or, with megabyte payloads, the kernel's buffering favoured one side. Look into it and run again.`);
  }
  const reasons = new Map<UnstableReason, number>();
  for (const c of measured) if (c.stable === false && c.unstableReason !== undefined) reasons.set(c.unstableReason, (reasons.get(c.unstableReason) ?? 0) + 1);
  for (const [reason, n] of reasons) lines.push(`${n} cell(s) unstable, ${reason}: ${WHAT_TO_DO[reason]}.`);
  return { headline, lines };
}
