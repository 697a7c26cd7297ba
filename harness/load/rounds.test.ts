import { describe, expect, it } from 'vitest';
import { HarnessError } from '../../transports/errors.js';
import { newBlock, type BlockResult } from './blocks.js';
import { runRounds, shuffle, type Arm, type PlacedBlock } from './rounds.js';
import { mulberry32 } from '../../datasets/random.js';

/** An arm that records when it ran and returns a block of one request of `ns`. */
function arm(name: string, log: string[], ns = 1000, fail?: (round: number) => HarnessError | undefined): Arm {
  return {
    async block(round) {
      log.push(`${round}:${name}`);
      const block: BlockResult = newBlock();
      const error = fail?.(round);
      if (error !== undefined) {
        block.requests = 1;
        block.errors = 1;
        block.abortedBy = error;
        return block;
      }
      block.latenciesNs.push(ns);
      block.requests = 1;
      block.durationNs = ns;
      return block;
    },
  };
}

describe('interleaved rounds', () => {
  it('runs every arm once per round, in an order shuffled per round and fixed by the seed', async () => {
    const run = async (seed: number): Promise<string[]> => {
      const log: string[] = [];
      await runRounds([arm('a', log), arm('b', log), arm('c', log), arm('d', log)], { minRounds: 12, maxRounds: 12, seed });
      return log;
    };
    const log = await run(7);
    expect(log).toHaveLength(48);
    const orders = Array.from({ length: 12 }, (_, r) => log.filter((l) => l.startsWith(`${r}:`)).map((l) => l.slice(-1)).join(''));
    for (const order of orders) expect([...order].sort().join('')).toBe('abcd');
    expect(new Set(orders).size).toBeGreaterThan(3); // shuffled, not one fixed order
    expect(await run(7)).toEqual(log);
    expect(await run(8)).not.toEqual(log);
  });

  it('places each block: its round and its position in that round', async () => {
    const log: string[] = [];
    const out = await runRounds([arm('a', log), arm('b', log)], { minRounds: 3, maxRounds: 3, seed: 1 });
    expect(out.rounds).toBe(3);
    for (const blocks of out.blocks) expect(blocks.map((b) => b.round)).toEqual([0, 1, 2]);
    for (let r = 0; r < 3; r++) expect([out.blocks[0]![r]!.position, out.blocks[1]![r]!.position].sort()).toEqual([0, 1]);
  });

  it('stops once settled, never before minRounds', async () => {
    const asked: number[] = [];
    const out = await runRounds([arm('a', []), arm('b', [])], {
      minRounds: 4,
      maxRounds: 50,
      seed: 1,
      settled: (blocks: readonly (readonly PlacedBlock[])[]) => {
        asked.push(blocks[0]!.length);
        return blocks[0]!.length >= 6;
      },
    });
    expect(asked[0]).toBe(4);
    expect(out.rounds).toBe(6);
  });

  it('stops at maxRounds when never settled, and at the time budget', async () => {
    expect((await runRounds([arm('a', [])], { minRounds: 2, maxRounds: 5, seed: 1, settled: () => false })).rounds).toBe(5);
    const slow: Arm = { block: () => new Promise((r) => setTimeout(() => r({ ...newBlock(), requests: 1, latenciesNs: [1] }), 20)) };
    const timed = await runRounds([slow], { minRounds: 2, maxRounds: 1000, seed: 1, maxDurationMs: 100 });
    expect(timed.rounds).toBeGreaterThanOrEqual(2);
    expect(timed.rounds).toBeLessThan(20);
  });

  it('sits out an arm whose connection is gone, and goes on with the others', async () => {
    const log: string[] = [];
    const out = await runRounds([arm('a', log), arm('b', log, 1000, (r) => (r === 1 ? new HarnessError('SIDECAR_CLOSED', 'gone') : undefined))], { minRounds: 4, maxRounds: 4, seed: 3 });
    expect(out.blocks[1]!.map((b) => b.round)).toEqual([0, 1]);
    expect(out.blocks[0]!.map((b) => b.round)).toEqual([0, 1, 2, 3]);
    expect(out.interrupted).toBe(false);
  });

  it('turns an arm that throws into an INTERNAL failure of that arm, and goes on with the others', async () => {
    const broken: Arm = { block: () => Promise.reject(new Error('bug')) };
    const out = await runRounds([broken, arm('ok', [])], { minRounds: 3, maxRounds: 3, seed: 1 });
    expect(out.blocks[0]).toHaveLength(1);
    expect(out.blocks[0]![0]!.abortedBy?.code).toBe('INTERNAL');
    expect(out.blocks[1]).toHaveLength(3);
  });

  it('stops at once when the run is interrupted', async () => {
    const abort = new AbortController();
    const log: string[] = [];
    const stopper: Arm = {
      async block(round) {
        if (round === 2) abort.abort();
        return arm('s', log).block(round);
      },
    };
    const out = await runRounds([stopper, arm('x', log)], { minRounds: 10, maxRounds: 10, seed: 1, signal: abort.signal });
    expect(out.interrupted).toBe(true);
    expect(log.filter((l) => l.startsWith('3:'))).toEqual([]);
  });

  it('shuffles with Fisher-Yates: every order of three, about equally often', () => {
    const random = mulberry32(5);
    const counts = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const key = shuffle(['a', 'b', 'c'], random).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(6);
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(120);
  });
});
