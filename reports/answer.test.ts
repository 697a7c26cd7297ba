import { describe, expect, it } from 'vitest';
import type { CellKey } from '../harness/results.js';
import { answerFor, answerText } from './answer.js';
import { toCsv } from './csv.js';
import { cifarCells, echoCells, fullRun, group, modelCells, run } from './fixtures.js';
import { renderReport } from './html.js';
import { formatBytes, formatDuration, formatDurationInterval } from './units.js';

describe('human units', () => {
  it('writes µs, ms and s with three significant digits, never a raw five-digit µs figure', () => {
    expect([0.15, 24.94, 476.2, 999.4, 1907.7, 144_703.5, 2_310_000].map((us) => formatDuration(us))).toEqual(['0.15 µs', '24.9 µs', '476 µs', '999 µs', '1.91 ms', '145 ms', '2.31 s']);
    expect(formatDuration(24.94, 'us')).toBe('24.9 us');
    expect(formatDuration(undefined)).toBe('');
    expect(formatDurationInterval(1907.7, 1880, 1951)).toBe('1.91 ms [1.88, 1.95]');
    expect([600, 3072, 65_536, 1_048_576].map(formatBytes)).toEqual(['600 B', '3 KiB', '64 KiB', '1 MiB']);
  });
});

describe('the answer', () => {
  it('gives every suite of a run its table, floor first, in the order measured', () => {
    const answers = answerFor(fullRun());
    expect(answers.map((a) => a.suite)).toEqual(['echo', 'cifar', 'gemma']);
    const echo = answers[0]!;
    expect(echo.setting).toBe('one request at a time, 3 KiB');
    expect(echo.others).toContain('64 B');
    expect(echo.rows[0]).toMatchObject({ transport: 'native-pair', floor: true, standing: 'floor' });
    expect(echo.model).toBe(false);
    expect(answers[1]!.model).toBe(true);
    expect(answers[2]!.rows.some((r) => r.mode === 'stream') && answers[2]!.rows.some((r) => r.mode === 'unary')).toBe(true);
  });

  it('reads echo transports against the C round trip, in the same rounds, with an interval', () => {
    const framed = answerFor(run(echoCells()))[0]!.rows.find((r) => r.transport === 'framed' && r.family === 'unix')!;
    expect(framed.added?.over).toBe('native-pair');
    // framed 24.7 + 2.05 µs against native-pair 14 + 2.05 µs: 10.7 µs on the fixture's fastest
    // round; its rounds drift by 1-2.5x (a difference in µs drifts with the machine, a ratio not).
    expect(framed.added!.estimate).toBeGreaterThan(10.7 * 0.95);
    expect(framed.added!.estimate).toBeLessThan(10.7 * 2.5);
    expect(framed.added!.low).toBeLessThanOrEqual(framed.added!.estimate);
    expect(framed.added!.high).toBeGreaterThanOrEqual(framed.added!.estimate);
    expect(framed.standing).toBe('fastest');
  });

  it('says "N x slower" only when the same-round interval excludes 1, and "within noise" when it does not', () => {
    const key = (transport: CellKey['transport']): CellKey => ({ suite: 'echo', scenario: 'single-stream', transport, family: 'unix', payloadBytes: 64, concurrency: 1 });
    const cells = group('g', [{ key: key('native-pair'), p50Us: 10 }, { key: key('framed'), p50Us: 20, floor: key('native-pair') }, { key: key('msgpack'), p50Us: 20.1, floor: key('native-pair') }, { key: key('grpc'), p50Us: 400, floor: key('native-pair') }]);
    const rows = answerFor(run(cells))[0]!.rows;
    const by = (t: string) => rows.find((r) => r.transport === t)!;
    expect([by('framed').standing, by('msgpack').standing, by('grpc').standing].sort()).toEqual(['fastest', 'slower', 'within noise'].sort());
    expect(by('grpc').verdict).toMatch(/^\d+(\.\d+)?x slower than (framed|msgpack) \[[\d.]+, [\d.]+\]$/);
  });

  it('gives a model suite its cost as a share of the model time', () => {
    const cifar = answerFor(run(cifarCells()))[0]!;
    const framed = cifar.rows.find((r) => r.transport === 'framed' && r.family === 'unix')!;
    expect(framed.added).toMatchObject({ over: 'model compute' });
    expect(framed.added!.pct).toBeCloseTo((190 / 1800) * 100, 1);
    expect(cifar.headline).toMatch(/^fastest: framed over unix \(1\.99 ms p50, adding 190 µs = 10\.6% of model time\)/);
  });

  it('prints a terminal table in us / ms / s with no raw microsecond counts', () => {
    const text = answerText(fullRun());
    expect(text).toContain('The answer for echo (one request at a time, 3 KiB');
    expect(text).toContain('The answer for gemma');
    expect(text).toMatch(/framed\s+unix\s+26\.7 us \[/);
    expect(text).not.toMatch(/\d{4,}(\.\d+)? ?(us|µs)/);
    expect(text).not.toContain('µs');
  });

  it('says so when nothing was measured, and names a failure', () => {
    expect(answerText(run([]))).toBe('The answer: this run measured no transport.\n');
  });
});

describe('a suite the reports have never heard of', () => {
  const result = run([...echoCells(), ...modelCells()]);

  it('has its answer table, read against its in-process model', () => {
    const model = answerFor(result).find((a) => a.suite === 'model')!;
    expect(model.model).toBe(true);
    expect(model.rows[0]).toMatchObject({ transport: 'in-process', floor: true });
    expect(model.rows.filter((r) => !r.floor).map((r) => r.transport)).toEqual(expect.arrayContaining(['framed', 'msgpack', 'grpc', 'http-json (gthread)']));
    expect(model.rows.find((r) => r.standing === 'fastest')?.transport).toMatch(/^(framed|msgpack)$/);
    expect(answerText(result)).toContain('The answer for model (one request at a time)');
  });

  it('keeps its own metrics in the CSV, after the fixed columns, sorted', () => {
    const [header, ...lines] = toCsv(result.cells).trim().split('\n');
    const columns = header!.split(',');
    expect(columns.slice(-2)).toEqual(['embeddings_per_s', 'max_abs_diff']);
    expect(columns.indexOf('id')).toBeLessThan(columns.indexOf('embeddings_per_s'));
    const framed = lines.find((l) => l.startsWith('model,single-stream,framed,unix'))!;
    expect(framed.split(',').at(-2)).toBe(String(Number((1e6 / 480).toFixed(6))));
  });

  it('opens report.html with its answer, above everything else', async () => {
    const html = await renderReport(result);
    const answer = html.indexOf('id="answer"');
    expect(answer).toBeGreaterThan(0);
    expect(html.indexOf('data-answer-suite="model"')).toBeGreaterThan(answer);
    for (const later of ['id="how-to-read"', 'id="warnings"', 'id="charts"', 'id="summary"']) expect(html.indexOf(later)).toBeGreaterThan(html.indexOf('data-answer-suite="model"'));
    expect(html.indexOf('<h1>')).toBeLessThan(answer);
  });
});
