import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { reportCommand } from '../harness/cli/report.js';
import { HarnessError } from '../harness/errors.js';
import { cellId, type CellKey, type CellResult, type RunCheck, type RunResult } from '../harness/results.js';
import { mulberry32 } from '../harness/stats/random.js';
import { allCharts, seriesLabel } from './charts.js';
import { esc, renderReport } from './html.js';
import { environmentRows, formatUs, summaryRow } from './summary.js';
import { renderSvg } from './svg.js';

// Fixtures: the shape of a real `run --suite echo --transports framed --quick` (floors, both
// families, five payloads, three concurrency levels) with invented but plausible numbers, and
// synthetic cifar, gemma and server cells, which the suites do not produce yet.

function cell(key: CellKey, p50Us: number, extra: Partial<CellResult> = {}): CellResult {
  const random = mulberry32(Math.round(p50Us * 1000));
  const samplesUs = Array.from({ length: 200 }, () => p50Us * Math.exp((random() - 0.5) * 0.4));
  return {
    ...key,
    id: cellId(key),
    status: 'ok',
    requests: 20_000,
    errors: 0,
    errorsByCode: {},
    latency: { count: 20_000, minUs: p50Us * 0.7, p50Us, p90Us: p50Us * 1.3, p99Us: p50Us * 3, p999Us: p50Us * 9, maxUs: p50Us * 40, meanUs: p50Us * 1.1, stddevUs: p50Us * 0.3 },
    ci95: { p50Us: [p50Us * 0.98, p50Us * 1.02], meanUs: [p50Us * 1.07, p50Us * 1.13] },
    throughputRps: (1e6 / p50Us) * key.concurrency * 0.8,
    durationMs: 1000,
    stable: true,
    samplesUs,
    metrics: {},
    ...extra,
  };
}

const FAMILY_COST = { unix: 1, tcp: 1.4 } as const;

function echoCells(): CellResult[] {
  const cells = [cell({ suite: 'echo', scenario: 'single-stream', transport: 'no-op', family: 'in-process', payloadBytes: 0, concurrency: 1 }, 0.29)];
  const peers = [
    ['native-peer', 10],
    ['framed', 25],
    ['http-json', 180],
  ] as const;
  for (const [transport, floor] of peers) {
    for (const family of ['unix', 'tcp'] as const) {
      const httpSetup = transport === 'http-json' ? { httpSetup: 'sync' as const } : {};
      for (const payloadBytes of [0, 64, 3072, 65_536, 1_048_576]) {
        cells.push(cell({ suite: 'echo', scenario: 'single-stream', transport, family, ...httpSetup, payloadBytes, concurrency: 1 }, floor * FAMILY_COST[family] + payloadBytes / 1500));
      }
      for (const concurrency of [1, 4, 16]) {
        cells.push(cell({ suite: 'echo', scenario: 'concurrency', transport, family, ...httpSetup, payloadBytes: 3072, concurrency }, floor * FAMILY_COST[family] * (1 + concurrency / 8)));
      }
    }
  }
  return cells;
}

function failed(key: CellKey, code: 'SIDECAR_START_FAILED' | 'TIMEOUT', message: string): CellResult {
  return { ...key, id: cellId(key), status: 'failed', error: { code, message }, requests: 0, errors: 0, errorsByCode: {}, durationMs: 0, metrics: {} };
}

function cifarCells(): CellResult[] {
  const cells: CellResult[] = [];
  for (const [transport, family, extra] of [['framed', 'unix', 40], ['grpc', 'tcp', 160], ['in-process', 'in-process', 0]] as const) {
    const compute = 900;
    cells.push(cell({ suite: 'cifar', scenario: 'single-stream', transport, family, batch: 1, concurrency: 1 }, compute + extra + 5, { metrics: { compute_us: compute, overhead_ratio: (extra + 5) / compute, accuracy: 0.8123 } }));
    for (const batch of [1, 64, 256]) {
      const imagesPerS = (batch * 1e6) / (compute * Math.sqrt(batch) + extra * 4);
      cells.push(cell({ suite: 'cifar', scenario: 'offline', transport, family, batch, concurrency: 1 }, (batch * 1e6) / imagesPerS, { metrics: { images_per_s: imagesPerS, accuracy: 0.8123 } }));
    }
  }
  return cells;
}

function confusionCheck(): RunCheck {
  const labels = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  const matrix = labels.map((_, i) => labels.map((__, j) => (i === j ? 80 : (i * 7 + j * 3) % 5)));
  return { name: 'cifar: confusion', ok: true, detail: 'confusion matrix of framed/unix', data: { labels, matrix } };
}

function gemmaCells(): CellResult[] {
  const cells: CellResult[] = [];
  for (const [transport, family, ttft] of [['framed', 'unix', 40_000], ['grpc', 'unix', 43_000], ['http-json', 'tcp', 52_000]] as const) {
    for (const samplingSteps of [16, 64]) {
      const httpSetup = transport === 'http-json' ? { httpSetup: 'gthread' as const } : {};
      cells.push(
        cell({ suite: 'gemma', scenario: 'single-stream', transport, family, ...httpSetup, samplingSteps, streaming: true, concurrency: 1 }, ttft + samplingSteps * 9000, {
          metrics: { ttft_p50_us: ttft, ttft_p99_us: ttft * 1.5, itl_p50_us: 9000, itl_p99_us: 14_000, tokens_per_s: 1e6 / 9000 },
        }),
      );
    }
  }
  return cells;
}

function serverCells(): CellResult[] {
  return [500, 2000, 8000].flatMap((targetRps) =>
    (['framed', 'msgpack'] as const).map((transport) =>
      cell({ suite: 'echo', scenario: 'server', transport, family: 'unix', payloadBytes: 3072, concurrency: 1, targetRps }, 30 * (targetRps > 4000 ? 20 : 1), {
        metrics: { achieved_rps: Math.min(targetRps, transport === 'framed' ? 7000 : 5000), dropped: 0 },
      }),
    ),
  );
}

function run(cells: CellResult[], checks: RunCheck[] = []): RunResult {
  return {
    schemaVersion: 1,
    harnessVersion: '0.1.0',
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:03:00.000Z',
    argv: ['run', '--quick'],
    config: {
      suites: ['echo'], transports: ['framed'], families: ['unix', 'tcp'], httpSetups: ['sync', 'gthread'], scenarios: ['single-stream', 'concurrency'],
      payloadBytes: [0, 64, 3072, 65_536, 1_048_576], concurrency: [1, 4, 16], ratesRps: [500, 2000], batchSizes: [1, 64, 256], samplingSteps: [16, 64],
      warmupRequests: 100, warmupMs: 100, windowMs: 250, minWindows: 3, maxWindows: 6, maxRequests: 1_000_000, stabilityPct: 10, trials: 1,
      timeoutMs: 30_000, readyTimeoutMs: 120_000, device: 'auto', sidecarArgs: [], calibration: true, quick: true, data: undefined, connect: undefined, out: undefined, limit: 1000,
    },
    environment: {
      cpuModel: 'AMD EPYC', cores: 2, memoryBytes: 25_276_502_016, os: 'Linux 6.1', arch: 'x64', node: 'v20.20.2', python: '3.11.2', torch: '1.13.0a0',
      cudaAvailable: false, gpu: null, gitCommit: '579b9ac82b57d3a5e50bd6f33c1117e8b4665339', gitDirty: false, harnessVersion: '0.1.0', hostname: 'vm',
    },
    cells,
    checks,
    status: cells.some((c) => c.status === 'failed') ? 'partial' : 'ok',
  };
}

const echoRun = (): RunResult => run(echoCells());
const fullRun = (): RunResult =>
  run([...echoCells(), ...serverCells(), ...cifarCells(), ...gemmaCells()], [{ name: 'cifar: agreement', ok: true, detail: 'all transports agree on 1000 images' }, confusionCheck()]);

const ALL_CHARTS = ['latency-percentiles', 'latency-payload', 'calibration', 'throughput-concurrency', 'server-rate', 'overhead-breakdown', 'cifar-accuracy', 'cifar-confusion', 'cifar-offline', 'gemma-generation'];
const ECHO_CHARTS = ['latency-percentiles', 'latency-payload', 'calibration', 'throughput-concurrency'];

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
      expect(html).toMatch(new RegExp(`data-chart-absent="${id}">[\\s\\S]*?Not measured in this run`));
    }
  }, 30_000);

  it('draws all ten charts when the run has cifar, gemma and server cells', async () => {
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
  });

  it('leaves out charts whose only cells failed', () => {
    const key: CellKey = { suite: 'cifar', scenario: 'offline', transport: 'framed', family: 'unix', batch: 64, concurrency: 1 };
    const charts = allCharts(run([failed(key, 'TIMEOUT', 'slow')]));
    expect(charts.every((c) => c.spec === undefined)).toBe(true);
  });
});

describe('summary rows', () => {
  it('formats microseconds by size and shows the p50 interval', () => {
    expect([formatUs(0.2914), formatUs(4.567), formatUs(48.34), formatUs(12_345.6), formatUs(undefined)]).toEqual(['0.291', '4.57', '48.3', '12,346', '']);
    const row = summaryRow(cell({ suite: 'echo', scenario: 'single-stream', transport: 'framed', family: 'unix', payloadBytes: 64, concurrency: 1 }, 25));
    expect(row.p50).toBe('25.0 [24.5, 25.5]');
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
    ['another schema version', { ...echoRun(), schemaVersion: 2 }],
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
