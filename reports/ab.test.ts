import { describe, expect, it } from 'vitest';
import { cellId, type CellKey, type CellResult, type RoundStat } from '../harness/results.js';
import { mulberry32 } from '../datasets/random.js';
import { compareSides, formatAb, headOverBase } from './ab.js';
import { cell } from './fixtures.js';

const KEY: CellKey = { suite: 'echo', scenario: 'single-stream', transport: 'framed', family: 'unix', payloadBytes: 3072, concurrency: 1 };
const MODEL: CellKey = { suite: 'cifar', scenario: 'single-stream', transport: 'in-process', family: 'in-process', concurrency: 1, batch: 1 };

/** How fast the machine was in each of 40 rounds: both sides see the same drift (up to 2.5x). */
const DRIFT = Array.from({ length: 40 }, (_, i) => 1 + 1.5 * Math.abs(Math.sin(i * 1.7)));

/** A cell measured in the rounds above: `factor` times `us`, with ±`noise` per round. */
function measured(key: CellKey, us: number, factor: number, seed: number, noise = 0.02): CellResult {
  const random = mulberry32(seed);
  const rounds: RoundStat[] = DRIFT.map((d, round) => {
    const p50 = us * factor * d * (1 + (random() - 0.5) * 2 * noise);
    return { round, position: round % 4, requests: 100, errors: 0, durationMs: 5, p50Us: p50, figureUs: p50 };
  });
  return cell(key, us * factor, { group: 'g', figure: 'p50', rounds, roundsP50Us: us * factor * 1.8 });
}

const failed = (key: CellKey): CellResult => ({ ...key, id: cellId(key), status: 'failed', error: { code: 'TIMEOUT', message: 'no reply' }, requests: 0, errors: 0, errorsByCode: {}, durationMs: 0, metrics: {} });

describe('compareSides', () => {
  it('reads the ratio round by round, so drift that both sides saw cancels', () => {
    const ratio = headOverBase(measured(KEY, 30, 1, 1), measured(KEY, 30, 1.1, 2));
    expect(ratio?.n).toBe(40);
    expect(ratio?.estimate).toBeGreaterThan(1.08);
    expect(ratio?.estimate).toBeLessThan(1.12);
    expect(ratio?.low).toBeGreaterThan(1.05);
    expect(ratio?.high).toBeLessThan(1.15);
  });

  it('passes unchanged code and fails a 10% slowdown at a 5% threshold', () => {
    const same = compareSides([measured(KEY, 30, 1, 1)], [measured(KEY, 30, 1, 2)], 5);
    expect(same.cells[0]).toMatchObject({ gated: true, verdict: 'unchanged', significant: false });
    expect(same.failed).toBe(false);
    const slower = compareSides([measured(KEY, 30, 1, 1)], [measured(KEY, 30, 1.1, 2)], 5);
    expect(slower.cells[0]).toMatchObject({ verdict: 'regressed', significant: true });
    expect(slower).toMatchObject({ failures: 1, gated: 1, failed: true });
  });

  it('needs the median beyond the threshold as well as significance', () => {
    const c = compareSides([measured(KEY, 30, 1, 1, 0.002)], [measured(KEY, 30, 1.03, 2, 0.002)], 5);
    expect(c.cells[0]?.ratio?.low).toBeGreaterThan(1);
    expect(c.cells[0]).toMatchObject({ verdict: 'unchanged', significant: true });
    expect(c.failed).toBe(false);
  });

  it('needs significance as well as the median beyond the threshold', () => {
    const few = (factor: number, seed: number): CellResult => {
      const full = measured(KEY, 30, factor, seed, 0.3);
      return { ...full, rounds: (full.rounds ?? []).slice(0, 8) };
    };
    const c = compareSides([few(1, 1)], [few(1.08, 2)], 5);
    expect(c.cells[0]?.ratio?.low).toBeLessThanOrEqual(1);
    expect(c.cells[0]?.verdict).toBe('unchanged');
  });

  it('reports an improvement without failing', () => {
    const c = compareSides([measured(KEY, 30, 1, 1)], [measured(KEY, 30, 0.8, 2)], 5);
    expect(c.cells[0]).toMatchObject({ verdict: 'improved', significant: true });
    expect(c.failed).toBe(false);
  });

  it('never gates on a control: the model in-process slowing down is shown, not failed', () => {
    const c = compareSides([measured(MODEL, 2000, 1, 1)], [measured(MODEL, 2000, 1.3, 2)], 5);
    expect(c.cells[0]).toMatchObject({ gated: false, verdict: 'regressed' });
    expect(c).toMatchObject({ gated: 0, failures: 0, failed: false });
  });

  it('fails a cell that failed on head while ok on base, not one that failed on both', () => {
    const c = compareSides([measured(KEY, 30, 1, 1), failed({ ...KEY, payloadBytes: 64 })], [failed(KEY), failed({ ...KEY, payloadBytes: 64 })], 5);
    expect(c.cells.map((x) => [x.verdict, x.note])).toEqual([
      ['failed', 'head failed: TIMEOUT'],
      ['not compared', 'head failed: TIMEOUT'],
    ]);
    expect(c.failures).toBe(1);
    expect(c.failed).toBe(true);
  });

  it('averages each side\'s replicas round by round (geometric mean), so one process set\'s luck is halved', () => {
    const replica = (factor: number, seed: number, trial: number): CellResult => ({ ...measured(KEY, 30, factor, seed), trial });
    const base = [replica(1, 1, 0), replica(1.06, 2, 1)];
    const head = [replica(1.06, 3, 0), replica(1, 4, 1)];
    const c = compareSides(base, head, 5);
    expect(c.cells).toHaveLength(1);
    expect(c.cells[0]?.ratio?.estimate).toBeCloseTo(1, 1);
    expect(c.cells[0]?.verdict).toBe('unchanged');
    expect(c.cells[0]?.baseUs).toBeCloseTo(54 * Math.sqrt(1.06), 5);
    // Read alone, replica 0 of each side would look like a 6% regression.
    expect(compareSides([base[0] as CellResult], [head[0] as CellResult], 5).cells[0]?.verdict).toBe('regressed');
    // Every replica slower: the regression shows.
    expect(compareSides(base, [replica(1.16, 5, 0), replica(1.1, 6, 1)], 5).cells[0]?.verdict).toBe('regressed');
  });

  it('fails a cell when one replica of head failed and every replica of base was ok', () => {
    const ok = (seed: number, trial: number): CellResult => ({ ...measured(KEY, 30, 1, seed), trial });
    const c = compareSides([ok(1, 0), ok(2, 1)], [ok(3, 0), { ...failed(KEY), trial: 1 }], 5);
    expect(c.cells[0]).toMatchObject({ verdict: 'failed', note: 'head failed: TIMEOUT' });
    expect(c.failed).toBe(true);
  });

  it('leaves out cells only one side measured', () => {
    const c = compareSides([measured(KEY, 30, 1, 1)], [measured({ ...KEY, payloadBytes: 64 }, 30, 1, 2)], 5);
    expect(c.cells).toEqual([]);
    expect(c.failed).toBe(false);
  });
});

describe('formatAb', () => {
  it('says how many gated cells regressed, and marks controls and verdicts', () => {
    const c = compareSides([measured(KEY, 30, 1, 1), measured(MODEL, 2000, 1, 3)], [measured(KEY, 30, 1.1, 2), measured(MODEL, 2000, 1, 4)], 5);
    const text = formatAb(c, { base: '`main`', head: '`pr`' });
    expect(text).toContain('### sidecar-bench ab: head `pr` against base `main`, threshold 5%');
    expect(text).toContain('**FAIL**: 1 of 1 gated cells regressed or failed.');
    expect(text).toContain('its median exceeds 1.05');
    expect(text).toMatch(new RegExp(`\\| \`${cellId(KEY)}\` \\| 54\\.0 µs \\| 59\\.4 µs \\| 1\\.1\\d \\[1\\.\\d+, 1\\.\\d+\\] \\| 40 \\| yes \\| \\*\\*regressed\\*\\* \\|`));
    expect(text).toContain(`| \`${cellId(MODEL)}\` (control) |`);
    const ok = formatAb(compareSides([measured(KEY, 30, 1, 1)], [measured(KEY, 30, 1, 2)], 5), { base: 'a', head: 'b' });
    expect(ok).toContain('**ok**: none of 1 gated cells regressed.');
  });
});
