/** report.html: replaced by the full vega-lite report; for now a summary table. */
import type { RunResult } from '../harness/results.js';

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);

export async function renderReport(result: RunResult): Promise<string> {
  const rows = result.cells
    .map((c) => `<tr><td>${esc(c.id)}</td><td>${c.latency?.p50Us.toFixed(1) ?? ''}</td><td>${c.status}</td></tr>`)
    .join('\n');
  return `<!doctype html><meta charset="utf-8"><title>sidecar-bench</title><table>${rows}</table>`;
}
