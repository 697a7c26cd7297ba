import { describe, expect, it } from 'vitest';
import { newBlock } from '../load/blocks.js';
import type { PlacedBlock } from '../load/rounds.js';
import type { RoundStat } from '../results.js';
import { compareToFloor, figureInterval, judgeStability, overheadAgainst, overheadFromReplies, roundStat } from './round-figures.js';

function block(round: number, latenciesUs: number[], extra: { computeUs?: number[]; durationMs?: number; errors?: number } = {}): PlacedBlock {
  const b = newBlock();
  for (const [i, us] of latenciesUs.entries()) {
    b.latenciesNs.push(us * 1000);
    const c = extra.computeUs?.[i];
    if (c !== undefined) {
      b.computeNs.push(c * 1000);
      b.overheadNs.push((us - c) * 1000);
    }
  }
  b.requests = latenciesUs.length + (extra.errors ?? 0);
  b.errors = extra.errors ?? 0;
  b.durationNs = (extra.durationMs ?? 10) * 1e6;
  return { ...b, round, position: 0 };
}

/** Rounds whose figures are `base * factor[r]`: a machine that drifts from round to round. */
function drifting(base: number, factors: readonly number[]): RoundStat[] {
  return factors.map((f, r) => roundStat(block(r, [base * f * 0.9, base * f, base * f * 1.1]), 'p50'));
}

const DRIFT = [1, 2.5, 1.2, 3, 1.1, 2, 1.4, 2.8, 1, 1.6, 2.2, 1.3];

describe('round figures', () => {
  it('takes each block\'s p50 in microseconds, or its time per request', () => {
    const s = roundStat(block(3, [10, 30, 20], { durationMs: 0.09 }), 'p50');
    expect(s.round).toBe(3);
    expect(s.p50Us).toBe(20);
    expect(s.figureUs).toBe(20);
    expect(roundStat(block(0, [10, 30, 20], { durationMs: 0.09 }), 'time-per-request').figureUs).toBeCloseTo(30, 9);
    expect(roundStat(block(0, []), 'p50').figureUs).toBeNaN();
  });

  it('cancels drift: a cell at 1.5x its floor in every round reads 1.5 however the machine moves', () => {
    const floor = drifting(20, DRIFT);
    const cell = drifting(30, DRIFT);
    const c = compareToFloor(cell, floor, { floorId: 'floor-id', floor: 'native-peer', figure: 'p50', strict: true })!;
    expect(c.estimate).toBeCloseTo(1.5, 9);
    expect(c.low).toBeCloseTo(1.5, 9);
    expect(c.high).toBeCloseTo(1.5, 9);
    expect(c.rounds).toBe(12);
    expect(c.belowFloor).toBe(false);
    // ...where the absolute figure drifts 3x and its interval says so.
    const own = figureInterval(cell)!;
    expect(own.high / own.low).toBeGreaterThan(1.5);
  });

  it('flags a cell whose whole interval is below its floor, and not one whose interval reaches 1', () => {
    const floor = drifting(20, DRIFT);
    const fast = drifting(10, DRIFT);
    expect(compareToFloor(fast, floor, { floorId: 'f', floor: 'native-peer', figure: 'p50', strict: true })!.belowFloor).toBe(true);
    const noisy = DRIFT.map((f, r) => roundStat(block(r, [20 * f * (r % 2 === 0 ? 0.8 : 1.3)]), 'p50'));
    const c = compareToFloor(noisy, floor, { floorId: 'f', floor: 'native-peer', figure: 'p50', strict: true })!;
    expect(c.low).toBeLessThan(1);
    expect(c.high).toBeGreaterThan(1);
    expect(c.belowFloor).toBe(false);
  });

  it('pairs rounds by number: a round the floor missed is left out', () => {
    const floor = drifting(20, DRIFT).filter((s) => s.round !== 4);
    const cell = drifting(40, DRIFT);
    expect(compareToFloor(cell, floor, { floorId: 'f', floor: 'x', figure: 'p50', strict: true })!.rounds).toBe(DRIFT.length - 1);
  });

  it('takes overhead from the compute time each reply carried, never below zero', () => {
    const rounds = DRIFT.map((f, r) => roundStat(block(r, [3000 * f + 40, 3000 * f + 50, 3000 * f + 60], { computeUs: [3000 * f, 3000 * f, 3000 * f] }), 'p50'));
    const o = overheadFromReplies(rounds)!;
    expect(o.estimate).toBeCloseTo(50, 6);
    expect(o.low).toBeGreaterThanOrEqual(40);
    expect(o.source).toBe('reply');
    expect(o.pct).toBeCloseTo((50 / o.computeUs) * 100, 9);
  });

  it('takes overhead against the in-process model in the same rounds when replies carry no timing', () => {
    const inProcess = drifting(2000, DRIFT);
    const cell = drifting(2100, DRIFT);
    const o = overheadAgainst(cell, inProcess)!;
    expect(o.source).toBe('in-process');
    expect(o.estimate).toBeGreaterThan(0);
    expect(o.computeUs).toBeGreaterThan(2000);
    expect(overheadFromReplies(cell)).toBeUndefined();
  });

  it('gives no % of model time for a model that takes none (echo), where it would be Infinity', () => {
    const rounds = DRIFT.map((f, r) => roundStat(block(r, [40 * f, 50 * f, 60 * f], { computeUs: [0, 0, 0] }), 'p50'));
    const o = overheadFromReplies(rounds)!;
    expect(o.computeUs).toBe(0);
    expect(o.estimate).toBeGreaterThan(0);
    expect(o.pct).toBeUndefined();
  });
});

describe('the stability rule', () => {
  const floor = drifting(20, DRIFT);
  it('calls a cell stable when its ratio to the floor is pinned, however the machine drifts', () => {
    const cell = drifting(30, DRIFT);
    const ratio = compareToFloor(cell, floor, { floorId: 'f', floor: 'x', figure: 'p50', strict: true });
    expect(judgeStability(cell, 0, ratio, 10)).toEqual({ stable: true });
  });

  it('calls it still drifting when the interval is wider than the tolerance', () => {
    const cell = DRIFT.map((f, r) => roundStat(block(r, [30 * f * (r % 3 === 0 ? 1.4 : r % 3 === 1 ? 1 : 0.7)]), 'p50'));
    const ratio = compareToFloor(cell, floor, { floorId: 'f', floor: 'x', figure: 'p50', strict: true });
    expect(judgeStability(cell, 0, ratio, 10)).toEqual({ stable: false, reason: 'still drifting' });
    expect(judgeStability(cell, 0, ratio, 60)).toEqual({ stable: true });
  });

  it('calls it too few samples below six rounds, and names errors first', () => {
    const cell = drifting(30, DRIFT.slice(0, 5));
    const ratio = compareToFloor(cell, floor, { floorId: 'f', floor: 'x', figure: 'p50', strict: true });
    expect(judgeStability(cell, 0, ratio, 10)).toEqual({ stable: false, reason: 'too few samples' });
    expect(judgeStability(cell, 2, ratio, 10)).toEqual({ stable: false, reason: 'errors' });
    expect(judgeStability([], 0, undefined, 10)).toEqual({ stable: false, reason: 'too few samples' });
  });
});
