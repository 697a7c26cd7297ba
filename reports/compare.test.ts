import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseThreshold } from '../harness/cli/compare.js';
import { main } from '../harness/cli/main.js';
import { HarnessError } from '../transports/errors.js';
import { cellId, type CellKey, type CellResult, type RunResult } from '../harness/results.js';
import { medianOf as median } from '../harness/load/blocks.js';
import { mulberry32 } from '../datasets/random.js';
import { mannWhitneyU } from '../harness/stats/mann-whitney.js';
import { compareResults as compareWith, formatMarkdown, formatPValue, type CompareOptions } from './compare.js';

/** The comparison as `sidecar-bench compare` makes it: with the Mann-Whitney test it passes in. */
const compareResults = (base: RunResult, head: RunResult, options: CompareOptions) => compareWith(base, head, options, (a, b) => mannWhitneyU(a, b).pValue);

const KEY: CellKey = { suite: 'echo', scenario: 'single-stream', transport: 'framed', family: 'unix', payloadBytes: 3072, concurrency: 1 };

/** A cell whose samples are log-uniform within +-20% of `centreUs`, as latencies roughly are. */
function cell(key: CellKey, centreUs: number, n: number, seed: number): CellResult {
  const random = mulberry32(seed);
  const samplesUs = Array.from({ length: n }, () => centreUs * Math.exp((random() - 0.5) * 0.4));
  const p50Us = median(samplesUs);
  return {
    ...key,
    id: cellId(key),
    status: 'ok',
    requests: n,
    errors: 0,
    errorsByCode: {},
    latency: { count: n, minUs: Math.min(...samplesUs), p50Us, p90Us: p50Us * 1.2, p99Us: p50Us * 1.3, p999Us: p50Us * 1.4, maxUs: Math.max(...samplesUs), meanUs: p50Us, stddevUs: p50Us * 0.1 },
    throughputRps: 1e6 / p50Us,
    durationMs: 1000,
    stable: true,
    samplesUs,
    metrics: {},
  };
}

function run(cells: CellResult[]): RunResult {
  return {
    schemaVersion: 2,
    harnessVersion: '0.1.0',
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:01:00.000Z',
    argv: ['run'],
    config: {} as RunResult['config'],
    environment: {
      cpuModel: 'cpu', cores: 2, memoryBytes: 1, os: 'Linux', arch: 'x64', node: 'v20', python: '3.11', torch: null,
      cudaAvailable: false, gpu: null, gitCommit: null, gitDirty: null, harnessVersion: '0.1.0', hostname: 'h',
    },
    cells,
    checks: [],
    status: 'ok',
  };
}

const other = (payloadBytes: number): CellKey => ({ ...KEY, payloadBytes });
const failedCell = (key: CellKey): CellResult => ({ ...key, id: cellId(key), status: 'failed', error: { code: 'TIMEOUT', message: 'no reply' }, requests: 0, errors: 0, errorsByCode: {}, durationMs: 0, metrics: {} });

describe('compareResults', () => {
  it('passes an unchanged run', () => {
    const base = run([cell(KEY, 50, 2000, 1), cell(other(64), 30, 2000, 2)]);
    const head = run([cell(KEY, 50, 2000, 3), cell(other(64), 30, 2000, 4)]);
    const c = compareResults(base, head, { thresholdPct: 10, metric: 'p50' });
    expect(c.failed).toBe(false);
    expect(c.cells.map((x) => x.verdict)).toEqual(['unchanged', 'unchanged']);
  });

  it('fails a cell 30% slower with many samples', () => {
    const c = compareResults(run([cell(KEY, 50, 2000, 1)]), run([cell(KEY, 65, 2000, 2)]), { thresholdPct: 10, metric: 'p50' });
    const [only] = c.cells;
    expect(only?.verdict).toBe('regressed');
    expect(only?.significant).toBe(true);
    expect(only?.pValue).toBeLessThan(1e-6);
    expect(only?.changePct).toBeGreaterThan(25);
    expect(c.failed).toBe(true);
  });

  it('does not call a 30% slowdown significant on 5 samples each', () => {
    const c = compareResults(run([cell(KEY, 50, 5, 1)]), run([cell(KEY, 65, 5, 2)]), { thresholdPct: 10, metric: 'p50' });
    expect(c.cells[0]?.changePct).toBeGreaterThan(10);
    expect(c.cells[0]?.significant).toBe(false);
    expect(c.cells[0]?.verdict).toBe('unchanged');
    expect(c.failed).toBe(false);
  });

  it('needs the change beyond the threshold as well as significance', () => {
    const c = compareResults(run([cell(KEY, 50, 20_000, 1)]), run([cell(KEY, 52, 20_000, 2)]), { thresholdPct: 10, metric: 'p50' });
    expect(c.cells[0]?.pValue).toBeLessThan(0.01);
    expect(c.cells[0]?.significant).toBe(true);
    expect(c.cells[0]?.verdict).toBe('unchanged');
    expect(formatMarkdown(c)).toMatch(/\| yes \| unchanged \|$/m);
  });

  it('reports improvements without failing', () => {
    const c = compareResults(run([cell(KEY, 65, 2000, 1)]), run([cell(KEY, 50, 2000, 2)]), { thresholdPct: 10, metric: 'mean' });
    expect(c.cells[0]?.verdict).toBe('improved');
    expect(c.failed).toBe(false);
  });

  it('marks new, missing and failed cells; only a base-ok cell failing in head fails the run', () => {
    const base = run([cell(KEY, 50, 200, 1), cell(other(64), 30, 200, 2), failedCell(other(1024))]);
    const head = run([failedCell(KEY), cell(other(0), 20, 200, 3), failedCell(other(1024))]);
    const c = compareResults(base, head, { thresholdPct: 10, metric: 'p50' });
    expect(c.cells.map((x) => [x.id, x.verdict, x.gate])).toEqual([
      [cellId(KEY), 'failed', true],
      [cellId(other(64)), 'missing', false],
      [cellId(other(1024)), 'failed', false],
      [cellId(other(0)), 'new', false],
    ]);
    expect(c.failed).toBe(true);
    expect(compareResults(base, run([cell(KEY, 50, 200, 4), cell(other(64), 30, 200, 5), failedCell(other(1024))]), { thresholdPct: 10, metric: 'p50' }).failed).toBe(false);
  });

  it('compares throughput by ratio alone and says it was not tested', () => {
    const c = compareResults(run([cell(KEY, 50, 2000, 1)]), run([cell(KEY, 65, 2000, 2)]), { thresholdPct: 10, metric: 'throughput' });
    expect(c.cells[0]?.measure).toBe('throughput');
    expect(c.cells[0]?.pValue).toBeUndefined();
    expect(c.cells[0]?.verdict).toBe('regressed');
    expect(formatMarkdown(c)).toContain('not tested');
  });

  it('falls back to throughput for a cell with no latency or samples', () => {
    const throughputOnly = (rps: number): CellResult => {
      const { latency: _l, samplesUs: _s, ...rest } = cell({ ...KEY, scenario: 'offline' }, 50, 10, 1);
      return { ...rest, throughputRps: rps };
    };
    const c = compareResults(run([throughputOnly(1000)]), run([throughputOnly(600)]), { thresholdPct: 10, metric: 'p50' });
    expect(c.cells[0]).toMatchObject({ measure: 'throughput', verdict: 'regressed', gate: true });
    expect(c.cells[0]?.pValue).toBeUndefined();
  });

  it('pools the trials of a cell', () => {
    const base = run([cell(KEY, 50, 1000, 1), { ...cell(KEY, 50, 1000, 2), trial: 1 }]);
    const head = run([cell(KEY, 70, 1000, 3), { ...cell(KEY, 70, 1000, 4), trial: 1 }]);
    const c = compareResults(base, head, { thresholdPct: 10, metric: 'p50' });
    expect(c.cells).toHaveLength(1);
    expect(c.cells[0]?.verdict).toBe('regressed');
  });

  it('notes when the native-peer calibration rows moved as well', () => {
    const peer: CellKey = { ...KEY, transport: 'native-peer' };
    const c = compareResults(run([cell(peer, 20, 2000, 1), cell(KEY, 50, 2000, 2)]), run([cell(peer, 30, 2000, 3), cell(KEY, 75, 2000, 4)]), { thresholdPct: 10, metric: 'p50' });
    expect(c.notes).toHaveLength(1);
    expect(c.notes[0]).toMatch(/^the native-peer calibration rows moved too \(median \+\d+\.\d%\)/);
    expect(formatMarkdown(c)).toContain('> the native-peer calibration rows moved too');
  });

  it('notes a change of machine', () => {
    const head = run([cell(KEY, 50, 100, 2)]);
    const c = compareResults(run([cell(KEY, 50, 100, 1)]), { ...head, environment: { ...head.environment, cores: 16 } }, { thresholdPct: 10, metric: 'p50' });
    expect(c.notes).toEqual(['environment differs: cores `2` (base) vs `16` (head)']);
  });
});

describe('formatMarkdown', () => {
  it('prints one row per cell with the change, p-value and verdict', () => {
    const c = compareResults(run([cell(KEY, 50, 2000, 1), cell(other(64), 30, 2000, 2)]), run([cell(KEY, 65, 2000, 3), cell(other(64), 30, 2000, 4)]), { thresholdPct: 10, metric: 'p50' });
    const text = formatMarkdown(c);
    expect(text).toContain('| cell | base p50 | head p50 | change | p-value | significant | verdict |');
    expect(text).toMatch(new RegExp(`\\| \`${cellId(KEY)}\` \\| [\\d.]+ µs \\| [\\d.]+ µs \\| \\+\\d+\\.\\d% \\| [^|]+ \\| yes \\| \\*\\*regressed\\*\\* \\|`));
    expect(text).toContain('**FAIL**');
    expect(text.split('\n').filter((l) => l.startsWith('| `'))).toHaveLength(2);
  });

  it('heads the table with one count of gated cells; floors are tallied but never counted as gated', () => {
    const peer: CellKey = { ...KEY, transport: 'native-peer' };
    const base = run([cell(peer, 20, 2000, 1), cell(KEY, 50, 2000, 2), cell(other(64), 30, 2000, 3)]);
    const head = run([cell(peer, 40, 2000, 4), cell(KEY, 65, 2000, 5), cell(other(64), 30, 2000, 6)]);
    const text = formatMarkdown(compareResults(base, head, { thresholdPct: 10, metric: 'p50' }));
    expect(text).toContain('**FAIL**: 1 of 2 gated cells regressed or failed.');
    expect(text).toContain('Verdicts of all 3 cells, floors included (floors never gate): 2 regressed, 1 unchanged.');
    const ok = formatMarkdown(compareResults(base, run([cell(peer, 20, 2000, 7), cell(KEY, 50, 2000, 8), cell(other(64), 30, 2000, 9)]), { thresholdPct: 10, metric: 'p50' }));
    expect(ok).toContain('**ok**: none of 2 gated cells regressed or failed.');
  });

  it('labels the values as multiples of the floor under --relative, never as µs', () => {
    const c = compareResults(run([cell(KEY, 1.2, 2000, 1)]), run([cell(KEY, 1.25, 2000, 2)]), { thresholdPct: 10, metric: 'p50', unit: 'floor' });
    const text = formatMarkdown(c);
    expect(text).toContain('| cell | base p50 (× floor) | head p50 (× floor) |');
    expect(text).not.toContain('µs');
    expect(text).toMatch(/\| 1\.\d{3} \| 1\.\d{3} \|/);
  });

  it('formats p-values readably', () => {
    expect([formatPValue(undefined), formatPValue(0), formatPValue(5e-319), formatPValue(3e-12), formatPValue(0.04567)]).toEqual(['not tested', '< 1e-300', '< 1e-300', '3.0e-12', '0.0457']);
  });
});

describe('sidecar-bench compare', () => {
  let dir: string;
  let write: (name: string, result: unknown) => Promise<string>;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'compare-cli-'));
    write = async (name, result) => {
      const file = path.join(dir, name);
      await writeFile(file, JSON.stringify(result));
      return file;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it('exits 0 when nothing regressed, 1 on a significant regression, and appends to the step summary', async () => {
    const summary = path.join(dir, 'summary.md');
    vi.stubEnv('GITHUB_STEP_SUMMARY', summary);
    const base = await write('base.json', run([cell(KEY, 50, 2000, 1)]));
    const same = await write('same.json', run([cell(KEY, 50, 2000, 2)]));
    const slow = await write('slow.json', run([cell(KEY, 65, 2000, 3)]));
    expect(await main(['compare', base, same])).toBe(0);
    expect(await main(['compare', base, slow, '--threshold', '25%'])).toBe(1);
    expect(await main(['compare', base, slow, '--threshold', '40%'])).toBe(0);
    const text = await readFile(summary, 'utf8');
    expect(text.match(/### sidecar-bench compare/g)).toHaveLength(3);
  });

  it('exits 2 on usage errors: bad threshold or metric, unreadable file, another schema', async () => {
    const base = await write('base.json', run([cell(KEY, 50, 100, 1)]));
    const v1 = await write('v1.json', { ...run([]), schemaVersion: 1 });
    expect(await main(['compare', base, base, '--threshold', 'ten'])).toBe(2);
    expect(await main(['compare', base, base, '--metric', 'p99'])).toBe(2);
    expect(await main(['compare', base, path.join(dir, 'absent.json')])).toBe(2);
    expect(await main(['compare', base, v1])).toBe(2);
    expect(await main(['compare', base])).toBe(2);
  });

  it('prints its help, limits included, and exits 0', async () => {
    const out = vi.mocked(process.stdout.write);
    expect(await main(['compare', '--help'])).toBe(0);
    const text = out.mock.calls.map((c) => String(c[0])).join('');
    expect(text).toContain('sidecar-bench compare: two saved runs');
    expect(text).toMatch(/--relative\s+compare multiples of the floor/);
    expect(text).toContain('Its limits');
    expect(text).toContain('sidecar-bench ab');
  });

  it('says under --relative that the values are multiples of the floor', async () => {
    const floorKey: CellKey = { ...KEY, transport: 'native-peer' };
    const base = await write('base.json', run([cell(floorKey, 20, 500, 1), cell(KEY, 50, 500, 2)]));
    const head = await write('head.json', run([cell(floorKey, 40, 500, 3), cell(KEY, 100, 500, 4)]));
    const out = vi.mocked(process.stdout.write);
    expect(await main(['compare', base, head])).toBe(1);
    out.mockClear();
    expect(await main(['compare', base, head, '--relative'])).toBe(0);
    const text = out.mock.calls.map((c) => String(c[0])).join('');
    expect(text).toContain('Values are multiples of the floor');
    expect(text).toContain('p50 (× floor)');
  });

  it('parses thresholds with or without %', () => {
    expect(parseThreshold('10%')).toBe(10);
    expect(parseThreshold('2.5')).toBe(2.5);
    expect(() => parseThreshold('-5%')).toThrow(HarnessError);
  });
});

describe('the import graph', () => {
  it('keeps the statistics out of reports/: compare renders plain data, harness/cli/compare.ts passes the test in', async () => {
    const dir = path.dirname(new URL(import.meta.url).pathname);
    const { readdir } = await import('node:fs/promises');
    const sources = (await readdir(dir)).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && f !== 'fixtures.ts');
    for (const f of sources) expect(await readFile(path.join(dir, f), 'utf8'), f).not.toMatch(/from '\.\.\/harness\/stats\/mann-whitney/);
  });
});
