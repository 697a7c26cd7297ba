/** The answer table at the top of report.html: the same rows as the terminal's (answer.ts), as HTML. */
import type { RunResult } from '../harness/results.js';
import { answerFor, type AnswerRow } from './answer.js';
import { addedOver, addedText, p50Text, stableText } from './answer-format.js';
import { formatDuration } from './units.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (value: unknown): string => String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);

const VERDICT_CLASS: Record<AnswerRow['standing'], string> = {
  floor: 'muted',
  fastest: 'ok',
  'within noise': 'ok',
  slower: '',
  unclear: 'muted',
  failed: 'bad',
};

function line(r: AnswerRow, withMode: boolean): string {
  const num = (s: string): string => `<td class="num">${esc(s)}</td>`;
  const stable = r.stable === false ? `<td class="bad">${esc(stableText(r))}</td>` : `<td>${esc(stableText(r))}</td>`;
  return `<tr${r.floor ? ' class="floor"' : r.ok ? '' : ' class="fail"'} data-answer-row="${esc(r.id)}"><td>${esc(r.transport)}${r.floor ? ' <small>(floor)</small>' : ''}</td><td>${esc(r.family)}</td>${withMode ? `<td>${esc(r.mode ?? '')}</td>` : ''}${num(p50Text(r, 'µs'))}${num(formatDuration(r.p99Us))}${num(addedText(r.added, 'µs'))}${stable}<td class="${VERDICT_CLASS[r.standing]}">${esc(r.verdict)}</td></tr>`;
}

/** One table per suite, each under its one-line headline. */
export function answerSection(result: RunResult): string {
  const answers = answerFor(result);
  if (answers.length === 0) return '<p class="muted">This run measured no transport, so there is nothing to answer.</p>';
  return answers
    .map((a) => {
      const withMode = a.rows.some((r) => r.mode !== undefined);
      const over = addedOver(a.rows);
      const head = `<tr><th>transport</th><th>family</th>${withMode ? '<th>mode</th>' : ''}<th>p50 [95% CI]</th><th>p99</th><th>adds over ${esc(over || 'the floor')} [95% CI]${a.model ? ', % of model time' : ''}</th><th>stable</th><th>verdict</th></tr>`;
      return `<div class="answer" data-answer-suite="${esc(a.suite)}"><h3>${esc(a.suite)}: ${esc(a.setting)}</h3>
<p class="headline">${esc(a.headline)}.</p>${a.others === undefined ? '' : `<p class="muted">${esc(a.others)}.</p>`}
<table class="answer"><thead>${head}</thead><tbody>${a.rows.map((r) => line(r, withMode)).join('')}</tbody></table></div>`;
    })
    .join('\n');
}
