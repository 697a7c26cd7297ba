import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportCommand } from '../harness/cli/report.js';
import { HarnessError } from '../transports/errors.js';
import type { CellKey } from '../harness/results.js';
import { allCharts, seriesLabel } from './charts.js';
import { cell, cifarCells, echoCells, echoRun, failed, fullRun, modelCells, run, serverCells } from './fixtures.js';
import { esc, renderReport } from './html.js';
import { environmentRows, summaryRow } from './summary.js';
import { renderSvg } from './svg.js';

const ALL_CHARTS = ['latency-cdf', 'latency-percentiles', 'latency-payload', 'calibration', 'throughput-concurrency', 'server-rate', 'overhead-breakdown', 'cifar-accuracy', 'cifar-confusion', 'cifar-offline', 'gemma-generation'];
const ECHO_CHARTS = ['latency-cdf', 'latency-percentiles', 'latency-payload', 'calibration', 'throughput-concurrency'];

/** The inner HTML of each `<figure data-chart="...">`, by chart id. */
function figures(html: string): Map<string, string> {
  return new Map([...html.matchAll(/<figure id="[^"]*" data-chart="([^"]+)">([\s\S]*?)<\/figure>/g)].map((m) => [m[1] as string, m[2] as string]));
}

describe('renderReport', () => {
  it('draws every echo chart for an echo run and says the others were not measured', async () => {
    const html = await renderReport(echoRun());
    const drawn = figures(html);
    expect([...drawn.keys()].sort()).toEqual([...ECHO_CHARTS].sort());
    for (const [id, body] of drawn) {
      expect(body, id).toMatch(/<svg[^>]*width="\d+"[^>]*height="\d+"/);
      expect(body, id).toMatch(/class="mark-(rect|line|symbol|text)/);
    }
    for (const id of ALL_CHARTS.filter((c) => !ECHO_CHARTS.includes(c))) {
      expect(html).toMatch(new RegExp(`data-chart-absent="${id}"><strong>[^<]+</strong>: not measured in this run\\.</li>`));
    }
  }, 30_000);

  it('draws all eleven charts when the run has cifar, gemma and server cells', async () => {
    const html = await renderReport(fullRun());
    expect([...figures(html).keys()].sort()).toEqual([...ALL_CHARTS].sort());
    expect(html).not.toContain('data-chart-absent');
    expect(html).not.toContain('data-chart-error');
    const confusion = figures(html).get('cifar-confusion') ?? '';
    expect(confusion).toContain('airplane');
    expect(figures(html).get('gemma-generation')).toContain('http-json (gthread)');
  }, 30_000);

  it('fetches nothing: no script, stylesheet link, external URL or font', async () => {
    const html = await renderReport(fullRun());
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\((?!#)|@font-face/i);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\b(src|href|xlink:href)="(?!#)/i);
  }, 30_000);

  it('escapes text from the results, failed cells included', async () => {
    const evil = '<script>alert("x")</script> & \'quoted\'';
    const key: CellKey = { suite: 'echo', scenario: 'single-stream', transport: 'grpc', family: 'tcp', payloadBytes: 0, concurrency: 1 };
    const result = run([...echoCells(), failed(key, 'SIDECAR_START_FAILED', evil)], [{ name: `check ${evil}`, ok: false, detail: evil }]);
    const html = await renderReport({ ...result, environment: { ...result.environment, hostname: evil } });
    expect(html).not.toContain('<script>');
    expect(html).toContain(esc(evil));
    expect(html).toContain('failed: SIDECAR_START_FAILED');
    expect(html).toContain('FAIL');
  }, 30_000);

  it('keeps the summary table to one row per cell and the environment table complete', async () => {
    const result = echoRun();
    const html = await renderReport(result);
    const table = /<table id="summary-table">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? '';
    expect(table.match(/<tr/g)?.length).toBe(result.cells.length + 1);
    for (const [label] of environmentRows(result.environment)) expect(html).toContain(`<th>${esc(label)}</th>`);
  }, 30_000);
});

describe('report sections', () => {
  it('answers with floors, warnings and the cell over its floor', async () => {
    const result = fullRun();
    const i = result.cells.findIndex((c) => c.id === 'echo/single-stream/grpc/tcp/payload=3072/c=1');
    const cells = [...result.cells];
    cells[i] = { ...cells[i]!, floor: { ...cells[i]!.floor!, estimate: 0.8, low: 0.7, high: 0.9, belowFloor: true } };
    const html = await renderReport({ ...result, cells });
    const floors = /<section id="floors">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
    expect(floors).toContain('<h3>unix, 3 KiB, one request at a time</h3>');
    expect(floors).toContain('framed / lean-node (framed)');
    expect(floors).toMatch(/native-peer \/ native-pair<\/code><\/td><td class="num">1\.\d\d \[1\.\d\d, 1\.\d\d\]/);
    const warnings = /<section id="warnings">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
    expect(warnings).toMatch(/stable: \d+ of \d+/);
    expect(warnings).toContain('FASTER THAN ITS FLOOR: 1 cell(s)');
    expect(html).toContain('× native-peer (below its floor)');
    expect(html).toMatch(/<th>× floor \[95% CI\]<\/th>/);
    expect(html).toContain('190 µs [171, 209], 10.6%'); // cifar framed/unix overhead
  }, 30_000);
});

describe('charts', () => {
  it('draw without Vega or Vega-Lite warnings', async () => {
    for (const chart of allCharts(fullRun())) {
      const warnings: string[] = [];
      if (chart.spec !== undefined) await renderSvg(chart.spec, warnings);
      // Layered bars and labels in facets with independent scales: the same data, as Vega-Lite assumes.
      expect(warnings.filter((w) => !w.includes('faceted independent scales')), chart.id).toEqual([]);
    }
  }, 30_000);

  it('names a series by transport, with the HTTP set-up', () => {
    expect(seriesLabel({ transport: 'framed' })).toBe('framed');
    expect(seriesLabel({ transport: 'http-json', httpSetup: 'sync' })).toBe('http-json (sync)');
    expect(seriesLabel({ transport: 'lean-node', wire: 'msgpack' })).toBe('lean-node (msgpack)');
  });

  it('follow the run: a run at 600 B only draws every echo chart with data, and says why the payload line is left out', async () => {
    const html = await renderReport(run(echoCells([600])));
    const drawn = figures(html);
    expect([...drawn.keys()].sort()).toEqual(ECHO_CHARTS.filter((c) => c !== 'latency-payload').sort());
    expect(drawn.get('latency-percentiles')).toContain('600 B');
    expect(drawn.get('calibration')).toContain('600 B');
    expect(html).toContain('data-chart-absent="latency-payload"><strong>Echo p50 latency vs payload size, single-stream</strong>: the run measured one payload size, and a line needs two (<code>--payloads 64,3072,64KiB</code>).');
  }, 30_000);

  it('colour always means the transport', () => {
    const colours = (node: unknown, out: string[] = []): string[] => {
      if (Array.isArray(node)) for (const n of node) colours(n, out);
      else if (typeof node === 'object' && node !== null) {
        for (const [k, v] of Object.entries(node)) {
          if (k === 'color' && typeof v === 'object' && v !== null && 'field' in v) out.push(String((v as { field: unknown }).field));
          colours(v, out);
        }
      }
      return out;
    };
    for (const chart of allCharts(run([...fullRun().cells, ...modelCells()]))) {
      // The confusion matrix is one model's answers, not transports: its colour is a count.
      if (chart.spec === undefined || chart.id === 'cifar-confusion') continue;
      expect(colours(chart.spec), chart.id).not.toHaveLength(0);
      expect(new Set(colours(chart.spec)), chart.id).toEqual(new Set(['transport']));
    }
  });

  it('never draws a one-point line: one offered rate, batch size or concurrency leaves that chart or panel out, with the reason', () => {
    const result = run([...cifarCells().filter((c) => c.batch !== 256), ...echoCells([3072]), ...serverCells().filter((c) => c.targetRps === 500)]);
    const byId = new Map(allCharts(result).map((c) => [c.id, c]));
    expect(byId.get('server-rate')?.spec).toBeUndefined();
    expect(byId.get('server-rate')?.absentReason).toContain('one rate');
    expect(byId.get('cifar-offline')?.absentReason).toContain('one batch size');
    // Echo swept 4 and 16 in flight, cifar nothing: the throughput axis runs over echo's alone.
    const throughput = byId.get('throughput-concurrency')!;
    expect(JSON.stringify(throughput.spec)).not.toContain('"suite":"cifar"');
  });

  it('gives each suite its own concurrency axis', () => {
    const cifarSweep = cifarCells().filter((c) => c.scenario === 'single-stream').map((c) => ({ ...c, id: `${c.id}/sweep`, scenario: 'concurrency' as const, concurrency: 4 }));
    const spec = allCharts(run([...echoCells([3072]), ...cifarSweep, ...cifarCells()])).find((c) => c.id === 'throughput-concurrency')?.spec as { resolve?: { scale?: { x?: string } } };
    expect(spec.resolve?.scale?.x).toBe('independent');
  });

  it('leaves out charts whose only cells failed', () => {
    const key: CellKey = { suite: 'cifar', scenario: 'offline', transport: 'framed', family: 'unix', batch: 64, concurrency: 1 };
    const charts = allCharts(run([failed(key, 'TIMEOUT', 'slow')]));
    expect(charts.every((c) => c.spec === undefined)).toBe(true);
  });
});

describe('summary rows', () => {
  it('shows the p50 interval', () => {
    const row = summaryRow(cell({ suite: 'echo', scenario: 'single-stream', transport: 'framed', family: 'unix', payloadBytes: 64, concurrency: 1 }, 25));
    expect(row.p50).toBe('25.0 µs [24.5, 25.5]');
    expect(row.status).toBe('ok');
  });

  it('lists failed requests by code', () => {
    const c = cell({ suite: 'echo', scenario: 'single-stream', transport: 'framed', family: 'unix', payloadBytes: 64, concurrency: 1 }, 25, { errors: 3, errorsByCode: { TIMEOUT: 2, MISMATCH: 1 } });
    expect(summaryRow(c).errors).toBe('3 (TIMEOUT 2, MISMATCH 1)');
  });
});

describe('sidecar-bench report', () => {
  async function saved(result: unknown): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'report-cli-'));
    const file = path.join(dir, 'results.json');
    await writeFile(file, JSON.stringify(result));
    return file;
  }

  it('writes results.csv and report.html next to the JSON', async () => {
    const file = await saved(echoRun());
    expect(await reportCommand([file])).toBe(0);
    const dir = path.dirname(file);
    expect(await readFile(path.join(dir, 'results.csv'), 'utf8')).toMatch(/^suite,scenario,transport/);
    expect(await readFile(path.join(dir, 'report.html'), 'utf8')).toContain('data-chart="latency-percentiles"');
  }, 30_000);

  it('writes to --out when given', async () => {
    const file = await saved(echoRun());
    const out = path.join(path.dirname(file), 'elsewhere');
    expect(await reportCommand([file, '--out', out])).toBe(0);
    expect(await readFile(path.join(out, 'report.html'), 'utf8')).toContain('<!doctype html>');
  }, 30_000);

  it.each([
    ['another schema version', { ...echoRun(), schemaVersion: 1 }],
    ['not a results document', { hello: 'world' }],
  ])('refuses %s with USAGE', async (_, doc) => {
    const file = await saved(doc);
    await expect(reportCommand([file])).rejects.toSatisfy((e) => e instanceof HarnessError && e.code === 'USAGE');
  });

  it('refuses a missing file and missing arguments with USAGE', async () => {
    await expect(reportCommand([path.join(os.tmpdir(), 'no-such-dir', 'results.json')])).rejects.toSatisfy((e) => e instanceof HarnessError && e.code === 'USAGE');
    await expect(reportCommand([])).rejects.toSatisfy((e) => e instanceof HarnessError && e.code === 'USAGE');
  });
});
