/** The ladders (ladder.ts) as terminal text and as report.html, one table per protocol and group. */
import type { RunResult } from '../harness/results.js';
import type { Interval } from '../harness/stats/intervals.js';
import { table } from './answer-format.js';
import { laddersFor, type Ladder, type LadderStep } from './ladder.js';
import { formatDuration, formatDurationInterval, formatTimes, type MicroSymbol } from './units.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (value: unknown): string => String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

const ratioText = (r: Interval | undefined): string => (r === undefined ? '1' : r.n > 1 ? `${formatTimes(r.estimate)} [${formatTimes(r.low)}, ${formatTimes(r.high)}]` : formatTimes(r.estimate));

function addedText(s: LadderStep, micro: MicroSymbol): string {
  if (s.note !== undefined) return `nothing: ${s.note}`;
  const a = s.added;
  if (a === undefined) return '';
  const value = a.n > 1 ? formatDurationInterval(a.estimate, a.low, a.high, micro) : formatDuration(a.estimate, micro);
  return `${a.estimate >= 0 ? '+' : ''}${value}${s.addedPct === undefined ? '' : `, ${s.addedPct.toFixed(1)}% of model time`}`;
}

const title = (l: Ladder): string => `Where the ${l.protocol === 'http' ? 'HTTP' : 'gRPC'} time goes: ${l.suite}, ${[l.setting, 'one request at a time', l.family].filter((s) => s !== '').join(', ')}${l.trial === undefined ? '' : `, trial ${l.trial}`}`;

/** Terminal lines for every ladder of the run; none when the run measured neither protocol. */
export function ladderText(result: RunResult): string[] {
  const out: string[] = [];
  for (const l of laddersFor(result)) {
    if (l.leftOut !== undefined) {
      out.push(`${title(l)}: left out, ${l.leftOut}.`, '');
      continue;
    }
    const head = ['step', 'set-up', 'p50', 'x framed [95% CI]', 'adds over the step before [95% CI]'];
    const rows = l.steps.map((s) => [s.step, s.series, formatDuration(s.p50Us, 'us'), ratioText(s.ratio), addedText(s, 'us')]);
    out.push(`${title(l)} (each step read round by round in the same rounds):`, ...table([head, ...rows]), '');
  }
  return out;
}

/** The ladders as HTML sections for report.html; a short note when the run has none. */
export function ladderSection(result: RunResult): string {
  const ladders = laddersFor(result);
  if (ladders.length === 0) return '<p class="muted">This run measured neither http-json nor grpc, so there is no ladder.</p>';
  return ladders
    .map((l) => {
      if (l.leftOut !== undefined) return `<h3>${esc(title(l))}</h3><p class="muted">Left out: ${esc(l.leftOut)}.</p>`;
      const rows = l.steps.map((s) => `<tr><td>${esc(s.step)}</td><td>${esc(s.series)}</td><td class="num">${esc(formatDuration(s.p50Us))}</td><td class="num">${esc(ratioText(s.ratio))}</td><td class="num">${esc(addedText(s, 'µs'))}</td></tr>`);
      return `<h3>${esc(title(l))}</h3>
<table class="floors" data-ladder="${esc(`${l.suite}/${l.protocol}/${l.family}`)}"><thead><tr><th>step</th><th>set-up</th><th>p50</th><th>× framed [95% CI]</th><th>adds over the step before [95% CI]</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
    })
    .join('\n');
}
