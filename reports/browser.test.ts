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
import { fullRun, modelCells, run } from './fixtures.js';
import { renderReport } from './html.js';

const CHROMIUM = process.env['SIDECAR_BENCH_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const available = existsSync(CHROMIUM);
if (!available) console.warn(`reports/browser.test.ts: skipped, ${CHROMIUM} not found (install it with \`apt-get install -y chromium\`)`);

/** A run with every suite and scenario in it, and a suite the reports have never heard of, so every chart is drawn. */
const fixture = () => {
  const full = fullRun();
  return run([...full.cells, ...modelCells()], full.checks);
};

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
    expect(charts).toHaveLength(11);
    for (const chart of charts) {
      expect(chart.width, chart.id ?? '').toBeGreaterThan(0);
      expect(chart.height, chart.id ?? '').toBeGreaterThan(0);
      expect(chart.marks, chart.id ?? '').toBeGreaterThan(0);
    }
    expect(problems).toEqual([]);
    expect(requests).toEqual([url]);

    // The answer comes first: above every other section, one table per suite, the new suite included.
    const tops = await page.$$eval('h1, section', (els) => els.map((e) => ({ id: e.id || e.tagName, top: e.getBoundingClientRect().top })));
    expect(tops.map((t) => t.id).slice(0, 2)).toEqual(['H1', 'answer']);
    expect(await page.$$eval('#answer [data-answer-suite]', (els) => els.map((e) => e.getAttribute('data-answer-suite')))).toEqual(['echo', 'cifar', 'gemma', 'model']);
    // No rotated tick or header labels (axis titles may stand on their side).
    const rotated = await page.$$eval('g.role-axis-label text, g.role-header-label text', (els) => els.filter((e) => /rotate\((?!0\))/.test(e.getAttribute('transform') ?? '')).length);
    expect(rotated).toBe(0);

    const shot = path.join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`report screenshot: ${shot}`);
    // SIDECAR_BENCH_SHOTS=dir: one screenshot per section and chart (how docs/screens/ is made).
    const shots = process.env['SIDECAR_BENCH_SHOTS'];
    if (shots !== undefined) {
      for (const id of await page.$$eval('section[id], figure[id], #charts-left-out', (els) => els.map((e) => e.id))) {
        await page.locator(`[id="${id}"]`).screenshot({ path: path.join(shots, `${id}.png`) });
      }
    }
    await page.close();
  }, 60_000);
});
