// Opens report.html in real headless Chromium: every chart draws, nothing errors, nothing is fetched.
// Skips when /usr/bin/chromium is absent (Debian package `chromium`; `npm test` installs it on Debian as root);
// SIDECAR_BENCH_CHROMIUM=/path/to/chrome points it at another Chromium.
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cellId, type CellKey, type CellResult, type RunResult } from '../harness/results.js';
import { renderReport } from './html.js';

const CHROMIUM = process.env['SIDECAR_BENCH_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const available = existsSync(CHROMIUM);
if (!available) console.warn(`reports/browser.test.ts: skipped, ${CHROMIUM} not found (install it with \`apt-get install -y chromium\`)`);

function cell(key: CellKey, p50Us: number, metrics: Record<string, number> = {}): CellResult {
  return {
    ...key,
    id: cellId(key),
    status: 'ok',
    requests: 5000,
    errors: 0,
    errorsByCode: {},
    latency: { count: 5000, minUs: p50Us * 0.8, p50Us, p90Us: p50Us * 1.3, p99Us: p50Us * 2.5, p999Us: p50Us * 6, maxUs: p50Us * 20, meanUs: p50Us * 1.1, stddevUs: p50Us * 0.2 },
    ci95: { p50Us: [p50Us * 0.98, p50Us * 1.02], meanUs: [p50Us * 1.08, p50Us * 1.12] },
    throughputRps: (1e6 / p50Us) * key.concurrency,
    durationMs: 1000,
    stable: p50Us < 1000,
    metrics,
  };
}

/** A run with every suite and scenario in it, so every chart is drawn. */
function fixture(): RunResult {
  const cells: CellResult[] = [cell({ suite: 'echo', scenario: 'single-stream', transport: 'no-op', family: 'in-process', payloadBytes: 0, concurrency: 1 }, 0.3)];
  const transports = [['native-peer', 11], ['framed', 27], ['msgpack', 31], ['grpc', 95]] as const;
  for (const [transport, floor] of transports) {
    for (const family of ['unix', 'tcp'] as const) {
      const f = family === 'tcp' ? 1.5 : 1;
      for (const payloadBytes of [0, 64, 3072, 65_536, 1_048_576]) cells.push(cell({ suite: 'echo', scenario: 'single-stream', transport, family, payloadBytes, concurrency: 1 }, floor * f + payloadBytes / 1200));
      for (const concurrency of [1, 4, 16]) cells.push(cell({ suite: 'echo', scenario: 'concurrency', transport, family, payloadBytes: 3072, concurrency }, floor * f * (1 + concurrency / 6)));
      if (transport === 'native-peer') continue;
      for (const targetRps of [1000, 4000, 16_000]) {
        cells.push(cell({ suite: 'echo', scenario: 'server', transport, family, payloadBytes: 3072, concurrency: 1, targetRps }, floor * f * (targetRps > 8000 ? 12 : 1), { achieved_rps: Math.min(targetRps, 9e5 / floor) }));
      }
      cells.push(cell({ suite: 'cifar', scenario: 'single-stream', transport, family, batch: 1, concurrency: 1 }, 850 + floor * f, { compute_us: 850, accuracy: 0.81 }));
      for (const batch of [1, 64, 256]) cells.push(cell({ suite: 'cifar', scenario: 'offline', transport, family, batch, concurrency: 1 }, 1000, { images_per_s: (batch * 1e6) / (850 * Math.sqrt(batch) + floor * 8) }));
      for (const samplingSteps of [16, 64]) {
        const ttft = 38_000 + floor * f * 10;
        cells.push(cell({ suite: 'gemma', scenario: 'single-stream', transport, family, samplingSteps, streaming: true, concurrency: 1 }, ttft + samplingSteps * 9000, { ttft_p50_us: ttft, itl_p50_us: 9000 + floor, tokens_per_s: 1e6 / (9000 + floor) }));
      }
    }
  }
  const labels = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  const matrix = labels.map((_, i) => labels.map((__, j) => (i === j ? 81 : (i * 3 + j * 5) % 6)));
  return {
    schemaVersion: 1,
    harnessVersion: '0.1.0',
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:03:00.000Z',
    argv: ['run', '--suite', 'echo,cifar,gemma', '--quick'],
    config: {
      suites: ['echo', 'cifar', 'gemma'], transports: ['framed', 'msgpack', 'grpc'], families: ['unix', 'tcp'], httpSetups: ['sync', 'gthread'], scenarios: ['single-stream', 'concurrency', 'server', 'offline'],
      payloadBytes: [0, 64, 3072, 65_536, 1_048_576], concurrency: [1, 4, 16], ratesRps: [1000, 4000, 16_000], batchSizes: [1, 64, 256], samplingSteps: [16, 64],
      warmupRequests: 100, warmupMs: 100, windowMs: 250, minWindows: 3, maxWindows: 6, maxRequests: 1_000_000, stabilityPct: 10, trials: 1,
      timeoutMs: 30_000, readyTimeoutMs: 120_000, device: 'cpu', sidecarArgs: [], calibration: true, quick: true, data: undefined, connect: undefined, out: undefined, limit: 1000,
    },
    environment: {
      cpuModel: 'AMD EPYC (synthetic fixture)', cores: 2, memoryBytes: 25_276_502_016, os: 'Linux 6.1', arch: 'x64', node: 'v20.20.2', python: '3.11.2', torch: '1.13.0a0',
      cudaAvailable: false, gpu: null, gitCommit: '0000000000000000000000000000000000000000', gitDirty: false, harnessVersion: '0.1.0', hostname: 'fixture',
    },
    cells,
    checks: [
      { name: 'cifar: agreement', ok: true, detail: 'every transport gave the same 1000 labels' },
      { name: 'cifar: confusion', ok: true, detail: 'framed/unix', data: { labels, matrix } },
    ],
    status: 'ok',
  };
}

describe.skipIf(!available)('report.html in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('draws every chart with no errors and no network', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-report-'));
    const file = path.join(dir, 'report.html');
    await writeFile(file, await renderReport(fixture()));
    const url = pathToFileURL(file).href;

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url, { waitUntil: 'load' });

    const charts = await page.$$eval('figure[data-chart]', (figures) =>
      figures.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        return { id: f.getAttribute('data-chart'), width: box?.width ?? 0, height: box?.height ?? 0, marks: svg?.querySelectorAll('g.role-mark > *').length ?? 0 };
      }),
    );
    expect(charts).toHaveLength(10);
    for (const chart of charts) {
      expect(chart.width, chart.id ?? '').toBeGreaterThan(0);
      expect(chart.height, chart.id ?? '').toBeGreaterThan(0);
      expect(chart.marks, chart.id ?? '').toBeGreaterThan(0);
    }
    expect(problems).toEqual([]);
    expect(requests).toEqual([url]);

    const shot = path.join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`report screenshot: ${shot}`);
    await page.close();
  }, 60_000);
});
