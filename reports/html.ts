/**
 * report.html: one self-contained page that opens offline. Charts are rendered to inline SVG
 * here, in Node; the page has no script, no stylesheet link, no font and no image to fetch.
 * Every piece of text from the results goes through `esc`.
 */
import type { RunResult } from '../harness/results.js';
import { allCharts, type Chart } from './charts.js';
import { adviceFor } from './advice.js';
import { answerSection } from './answer-html.js';
import { floorTables } from './floors.js';
import { ladderSection } from './ladder-format.js';
import { environmentRows, formatRatio, summaryRows, type SummaryRow } from './summary.js';
import { formatBytes, formatDuration } from './units.js';
import { renderSvg } from './svg.js';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escape text for element content and quoted attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1180px;padding:0 20px 40px;color:#222}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:0}
nav a{margin-right:12px}table{border-collapse:collapse;font-size:12.5px}td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}tr.fail td{background:#fdecea}
.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}.muted{color:#666}
figure{margin:18px 0;padding:10px;border:1px solid #e3e3e3;border-radius:4px;overflow-x:auto}figcaption p{margin:2px 0 8px;color:#444}
figure svg{max-width:100%;height:auto}#answer{border:2px solid #4c78a8;border-radius:6px;padding:4px 14px 12px;margin-top:12px}#answer h2{border:0;margin-top:10px}
p.headline{font-size:15px;font-weight:600;margin:4px 0}table.answer td{white-space:nowrap}tr.floor td{background:#f6f8fa}div.answer{margin-bottom:14px}table.floors{margin-bottom:18px}#floors h3{margin:16px 0 2px}pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}small{color:#666}`;

const HOW_TO_READ = `<p>Every number here was measured in this one run, on the machine described under <a href="#environment">Environment</a>.
Latencies are per request, in µs, ms or s, from the client's side: encoding, the trip through the socket, the sidecar's work and decoding.
p50 is the median; p99 and p99.9 are the tail.</p>
<p><strong>Same moments.</strong> Cells that are compared were measured together, in interleaved <em>rounds</em>: each round runs a short block of
every cell of a group (a transport and its floors; the model over every wire and in-process), in an order shuffled each round. A ratio is taken
round by round, so a machine that drifts between minutes cannot make one cell look faster than another. A ratio shown as <code>1.17 [1.15, 1.20]</code>
is the median of the per-round ratios with its 95% interval; an interval that contains 1 means "not clearly different".</p>
<p><strong>Floors.</strong> <code>native-pair</code> is a C client talking to a C echo server: the machine's own round trip. <code>native-peer</code> is our framed
client against that C server, <code>native-client</code> the C client against the Python sidecar, <code>lean-node</code> the leanest Node client we could
write against the Python sidecar, <code>no-op</code> a request that never leaves the process. Each echo transport is read against
<code>native-peer</code>; each model transport against <code>in-process</code>, the model called directly in Python. One request at a time a floor
bounds its cells from below, so a cell whose whole interval lies under 1 is flagged: look into it before you believe it.</p>
<p><strong>Overhead</strong> is what the transport adds to the model's own compute time: per request, the client's latency minus the compute time the
sidecar measured and sent back, so it cannot be negative; shown with its interval and as a share of the compute time. (A wire that carries no
timing is read against the in-process model's compute time in the same round instead.)</p>
<p><strong>Stable</strong> means the cell's headline figure (its ratio to its floor, or its own median when it has none) is pinned within the
stability tolerance by its 95% interval. An unstable cell says why: still drifting, too few samples, or errors; <a href="#warnings">Warnings</a>
says what to do. Colours always mean the transport; dashes or panels mean the socket family. The repository's docs/reading-the-report.md explains each part in more detail.</p>`;

function floorsSection(result: RunResult): string {
  const tables = floorTables(result);
  if (tables.length === 0) return '<p class="muted">No one-at-a-time echo group with floors in this run.</p>';
  return tables
    .map((t) => {
      const rows = t.rows.map((r) => `<tr><td>${esc(r.question)}</td><td><code>${esc(r.ratio)}</code></td><td class="num">${esc(formatRatio(r.interval.estimate, r.interval.low, r.interval.high))}</td></tr>`);
      const pair = t.pairP50Us === undefined ? '' : ` A C client and a C server take ${esc(formatDuration(t.pairP50Us))} (p50) per round trip.`;
      return `<h3>${esc(t.family)}, ${esc(formatBytes(t.payloadBytes))}, one request at a time${t.trial === undefined ? '' : `, trial ${esc(t.trial)}`}</h3><p class="muted">Each line is a ratio taken round by round, with its 95% interval.${pair}</p>
<table class="floors"><thead><tr><th>what it costs</th><th>ratio</th><th>× [95% CI]</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
    })
    .join('\n');
}

function warningsSection(result: RunResult): string {
  const advice = adviceFor(result);
  const items = advice.lines.map((l) => `<li${l.startsWith('FASTER') ? ' class="bad"' : ''}>${esc(l)}</li>`);
  return `<p>${esc(advice.headline)}.</p>${items.length === 0 ? '<p class="ok">Nothing to flag.</p>' : `<ul>${items.join('')}</ul>`}`;
}

async function figure(chart: Chart): Promise<string> {
  const head = `<figcaption><h3>${esc(chart.title)}</h3><p>${esc(chart.caption)}</p></figcaption>`;
  const anchor = `id="chart-${esc(chart.id)}"`;
  if (chart.spec === undefined) {
    return `<figure ${anchor} data-chart-absent="${esc(chart.id)}">${head}<p class="muted">Left out: ${esc(chart.absentReason ?? 'not measured in this run')}.</p></figure>`;
  }
  try {
    return `<figure ${anchor} data-chart="${esc(chart.id)}">${head}${await renderSvg(chart.spec)}</figure>`;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return `<figure ${anchor} data-chart-error="${esc(chart.id)}">${head}<p class="bad">This chart could not be drawn: ${esc(message)}</p></figure>`;
  }
}

/** `flag` in already escaped text as <code>flag</code>. */
const code = (escaped: string): string => escaped.replace(/`([^`]+)`/g, '<code>$1</code>');

/** Charts with nothing to draw are not drawn empty: one line each says which and why. */
function leftOut(charts: readonly Chart[]): string {
  if (charts.length === 0) return '';
  const items = charts.map((c) => `<li id="chart-${esc(c.id)}" data-chart-absent="${esc(c.id)}"><strong>${esc(c.title)}</strong>: ${code(esc(c.absentReason ?? 'not measured in this run'))}.</li>`);
  return `<div id="charts-left-out"><h3>Charts left out</h3><ul class="muted">${items.join('')}</ul></div>`;
}

function checksSection(result: RunResult): string {
  if (result.checks.length === 0) return '<p class="muted">This run made no run-level checks.</p>';
  const rows = result.checks.map(
    (c) => `<tr${c.ok ? '' : ' class="fail"'}><td class="${c.ok ? 'ok' : 'bad'}">${c.ok ? 'ok' : 'FAIL'}</td><td>${esc(c.name)}</td><td>${esc(c.detail)}</td></tr>`,
  );
  return `<table><thead><tr><th>result</th><th>check</th><th>detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function summaryLine(row: SummaryRow): string {
  const status = row.ok ? '<td class="ok">ok</td>' : `<td class="bad" title="${esc(row.message)}">${esc(row.status)}<br><small>${esc(row.message)}</small></td>`;
  const num = (s: string): string => `<td class="num">${esc(s)}</td>`;
  const floor = `<td class="num${row.belowFloor ? ' bad' : ''}">${esc(row.floor)}${row.belowFloor ? ' (below its floor)' : ''}</td>`;
  return `<tr${row.ok ? '' : ' class="fail"'}><td>${esc(row.id)}</td>${num(row.requests)}${num(row.errors)}${num(row.p50)}${num(row.p99)}${floor}${num(row.overhead)}${num(row.throughput)}<td>${esc(row.stable)}</td>${status}</tr>`;
}

function summarySection(result: RunResult): string {
  if (result.cells.length === 0) return '<p class="muted">This run has no cells.</p>';
  const head =
    '<tr><th>cell</th><th>requests</th><th>errors</th><th>p50 [95% CI]</th><th>p99</th><th>× floor [95% CI]</th><th>overhead [95% CI], % of compute</th><th>throughput req/s</th><th>stable</th><th>status</th></tr>';
  return `<table id="summary-table"><thead>${head}</thead><tbody>${summaryRows(result.cells).map(summaryLine).join('')}</tbody></table>`;
}

function environmentSection(result: RunResult): string {
  const rows = environmentRows(result.environment).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
  return `<table>${rows.join('')}</table>
<details><summary>command line and resolved configuration</summary><pre>${esc(['sidecar-bench', ...result.argv].join(' '))}\n\n${esc(JSON.stringify(result.config, null, 2))}</pre></details>`;
}

function header(result: RunResult): string {
  const failed = result.cells.filter((c) => c.status === 'failed').length;
  const statusClass = result.status === 'ok' ? 'ok' : 'bad';
  return `<p>Run status <span class="${statusClass}">${esc(result.status)}</span>: ${result.cells.length} cells, ${failed} failed;
suites ${esc(Array.isArray(result.config.suites) ? result.config.suites.join(', ') : 'unknown')}; started ${esc(result.startedAt)}, finished ${esc(result.finishedAt)};
harness ${esc(result.harnessVersion)}, results schema ${esc(result.schemaVersion)}.</p>
<nav><a href="#answer">The answer</a><a href="#how-to-read">How to read this</a><a href="#warnings">Warnings</a><a href="#checks">Checks</a><a href="#floors">Floors</a><a href="#ladder">Ladder</a><a href="#charts">Charts</a><a href="#summary">Summary</a><a href="#environment">Environment</a></nav>`;
}

export async function renderReport(result: RunResult): Promise<string> {
  const charts = allCharts(result);
  const figures: string[] = [];
  for (const chart of charts.filter((c) => c.spec !== undefined)) figures.push(await figure(chart));
  figures.push(leftOut(charts.filter((c) => c.spec === undefined)));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sidecar-bench report ${esc(result.startedAt)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>sidecar-bench report</h1>
<section id="answer"><h2>The answer: which transport, and what it costs</h2>${answerSection(result)}
<p class="muted">p50 is the median of the per-round medians with its 95% interval; "adds" is what the transport costs per request over the floor (the model's own compute time for a model, a C client and C server for echo), in the same rounds; a verdict compares cells measured in the same rounds. <a href="#how-to-read">How to read this</a>.</p></section>
${header(result)}
<section id="how-to-read"><h2>How to read this</h2>${HOW_TO_READ}</section>
<section id="warnings"><h2>Warnings</h2>${warningsSection(result)}</section>
<section id="checks"><h2>Checks</h2>${checksSection(result)}</section>
<section id="floors"><h2>Floors: where the time of one round trip goes</h2>${floorsSection(result)}</section>
<section id="ladder"><h2>Where HTTP and gRPC time goes: protocol, server stack, client library</h2>
<p class="muted">Per protocol, from the same interleaved rounds: framed (our own wire, the protocol floor), the fastest server and client measured, then the real server stack with that client, then the real client library; each step's ratio to framed and what it adds over the step before, with 95% intervals.</p>${ladderSection(result)}</section>
<section id="charts"><h2>Charts</h2>
${figures.join('\n')}
</section>
<section id="summary"><h2>Summary of every cell</h2>${summarySection(result)}</section>
<section id="environment"><h2>Environment</h2>${environmentSection(result)}</section>
</body>
</html>
`;
}
