/** One timer for many deadlines (deadlines.ts): each expires once, in order, not before its time; cleared ones never. */
import { describe, expect, it } from 'vitest';
import { createDeadlines } from './deadlines.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('deadlines on one timer', () => {
  it('expires each deadline once, not before timeoutMs, in the order they began, except those cleared', async () => {
    const deadlines = createDeadlines(60);
    const expired: [string, number][] = [];
    const began = new Map<string, number>();
    const start = (name: string): ReturnType<typeof deadlines.start> => {
      began.set(name, performance.now());
      return deadlines.start(() => expired.push([name, performance.now() - (began.get(name) ?? 0)]));
    };
    start('a');
    const b = start('b');
    await sleep(30);
    start('c');
    b.clear();
    await sleep(45); // a is due, c is not yet
    expect(expired.map(([name]) => name)).toEqual(['a']);
    await sleep(200); // slack for a loaded machine
    expect(expired.map(([name]) => name)).toEqual(['a', 'c']);
    for (const [, afterMs] of expired) expect(afterMs).toBeGreaterThanOrEqual(59);
  });

  it('runs nothing after stop()', async () => {
    const deadlines = createDeadlines(20);
    let ran = 0;
    deadlines.start(() => (ran += 1));
    deadlines.stop();
    await sleep(80);
    expect(ran).toBe(0);
  });
});
