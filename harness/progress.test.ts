/** The status line: a total fixed before the first cell, an ETA per suite, labels that tell cells apart. */
import { describe, expect, it } from 'vitest';
import { cellLabel, progressState } from './progress.js';
import type { CellKey } from './results.js';

/** A clock the test moves by hand. */
function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('progressState', () => {
  it('fixes the total before the first cell; a suite\'s own count replaces its share, never adds to it', () => {
    const c = clock();
    const p = progressState([{ suite: 'echo', cells: 10 }, { suite: 'cifar', cells: 5 }], c.now);
    expect(p.status()).toBe('[0/15 0%]');
    p.plan(10);
    for (let i = 0; i < 10; i++) p.done('echo');
    p.plan(6); // cifar found one more cell than planned: the total moves once, by that one
    expect(p.status()).toMatch(/^\[10\/16 63%/);
    for (let i = 0; i < 6; i++) p.done('cifar');
    expect(p.status()).toBe('[16/16 100%]');
  });

  it('divides a group\'s time by all its cells at once, so the ETA does not drop line by line through a burst', () => {
    const c = clock();
    const p = progressState([{ suite: 'echo', cells: 12 }], c.now);
    p.plan(12);
    const etas: number[] = [];
    for (let group = 0; group < 3; group++) {
      p.start(4);
      c.advance(4_000); // a group of four cells, measured together for 4 s, finishes in one burst
      for (let i = 0; i < 4; i++) {
        p.done('echo');
        etas.push(Number(/echo ETA (\d+)s/.exec(p.status())?.[1] ?? 0));
      }
    }
    // 1 s a cell from the first burst on; without the group's size its lines said 44, 20, 12, 8 s.
    expect(etas.slice(0, 11)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('takes the ETA from the running suite\'s own mean cell time, so a slow suite after a fast one does not jump it', () => {
    const c = clock();
    const p = progressState([{ suite: 'echo', cells: 4 }, { suite: 'cifar', cells: 4 }], c.now);
    p.plan(4);
    for (let i = 0; i < 4; i++) {
      c.advance(100);
      p.done('echo');
    }
    p.plan(4);
    const etas: number[] = [];
    for (let i = 0; i < 3; i++) {
      c.advance(10_000);
      p.done('cifar');
      const m = /cifar ETA (\d+)s/.exec(p.status());
      etas.push(Number(m?.[1]));
    }
    // 10 s a cell, from cifar's own cells: 30 s, 20 s, 10 s (one mean over the run would say 3 s, then 11 s, ...).
    expect(etas).toEqual([30, 20, 10]);
  });

  it('names the suites still to come rather than guessing their time', () => {
    const p = progressState([{ suite: 'echo', cells: 2 }, { suite: 'cifar', cells: 3 }, { suite: 'gemma', cells: 4 }], clock().now);
    p.plan(2);
    expect(p.status()).toBe('[0/9 0%, then cifar, gemma]');
  });

  it('drops the share of a suite that failed before announcing its cells', () => {
    const p = progressState([{ suite: 'echo', cells: 2 }, { suite: 'cifar', cells: 3 }, { suite: 'gemma', cells: 4 }], clock().now);
    p.plan(2);
    p.done('echo');
    p.done('echo');
    p.plan(4); // cifar died before its plan; this is gemma's
    p.done('gemma');
    expect(p.status()).toMatch(/^\[3\/6 50%/);
  });

  it('says `+` while a suite whose cells cannot be counted in advance is still to come', () => {
    const p = progressState([{ suite: 'echo', cells: 2 }, { suite: 'model', cells: undefined }], clock().now);
    expect(p.status()).toBe('[0/2+ 0%]');
    p.plan(2);
    p.done('echo');
    p.done('echo');
    p.plan(7);
    expect(p.status()).toBe('[2/9 22%]');
  });

  it('without a plan (ab), adds each announcement as it comes', () => {
    const p = progressState(undefined, clock().now);
    p.plan(3);
    p.plan(2);
    expect(p.status()).toBe('[0/5 0%]');
  });
});

describe('cellLabel', () => {
  it('tells apart cells that share transport and family: stream/unary, HTTP set-up, steps, payload', () => {
    const base: CellKey = { suite: 'gemma', scenario: 'single-stream', transport: 'http-json', family: 'unix', concurrency: 1, samplingSteps: 8, httpSetup: 'gthread' };
    expect(cellLabel({ ...base, streaming: true })).toBe('gemma single-stream steps=8 · http-json (gthread) · unix · stream');
    expect(cellLabel({ ...base, streaming: false })).toBe('gemma single-stream steps=8 · http-json (gthread) · unix · unary');
    expect(cellLabel({ suite: 'echo', scenario: 'concurrency', transport: 'framed', family: 'tcp', concurrency: 16, payloadBytes: 3072 })).toBe('echo concurrency 3 KiB c=16 · framed · tcp');
  });
});
