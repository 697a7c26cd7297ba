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
import { fullRun } from './fixtures.js';
import { renderReport } from './html.js';

const CHROMIUM = process.env['SIDECAR_BENCH_CHROMIUM'] ?? '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const available = existsSync(CHROMIUM);
if (!available) console.warn(`reports/browser.test.ts: skipped, ${CHROMIUM} not found (install it with \`apt-get install -y chromium\`)`);

/** A run with every suite and scenario in it, so every chart is drawn. */
const fixture = fullRun;

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
