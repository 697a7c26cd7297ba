import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../config.js';
import { HarnessError } from '../../transports/errors.js';
import { newBlock, recordSuccess, type BlockResult } from '../load/blocks.js';
import type { CellKey, CellResult } from '../results.js';
import type { SuiteContext } from './context.js';
import { measureGroup, type GroupArm, type OpenedArm } from './group.js';

function context(emitted: CellResult[], signal = new AbortController().signal): SuiteContext {
  return {
    config: resolveConfig({ minRounds: 6, maxRounds: 30, stabilityPct: 10, warmupRequests: 1, warmupMs: 0 }),
    signal,
    progress: { start: () => undefined, done: () => undefined, plan: () => undefined, log: () => undefined },
    emit: (cell) => emitted.push(cell),
    check: () => undefined,
    withSidecars: () => Promise.reject(new Error('not in these tests')),
    pinned: (body) => body('shared core 0'),
    measure: () => Promise.reject(new Error('unused')),
  };
}

const key = (transport: CellKey['transport']): CellKey => ({ suite: 'echo', scenario: 'single-stream', transport, family: 'unix', payloadBytes: 64, concurrency: 1 });

/** An arm whose blocks are 20 requests of `latencyUs(round)`, each reporting `computeUs` when given. */
function fakeArm(latencyUs: (round: number) => number, options: { computeUs?: number; fail?: (round: number) => HarnessError | undefined; crashed?: boolean } = {}): () => Promise<OpenedArm> {
  const block = (round: number): BlockResult => {
    const b = newBlock();
    const error = options.fail?.(round);
    if (error !== undefined) {
      b.requests = 1;
      b.errors = 1;
      b.errorsByCode[error.code] = 1;
      b.abortedBy = error;
      return b;
    }
    for (let i = 0; i < 20; i++) recordSuccess(b, latencyUs(round) * 1000, options.computeUs === undefined ? undefined : options.computeUs * 1000);
    b.durationNs = 20 * latencyUs(round) * 1000;
    return b;
  };
  return async () => ({
    block: async (round) => block(round),
    warmUp: async () => undefined,
    close: async () => undefined,
    facts: { pid: 1 },
    crashed: async () => options.crashed === true,
  });
}

/** The machine drifts 3x between rounds; the cells share it. */
const drift = (r: number): number => 1 + 2 * ((r * 7) % 5) / 4;

describe('measuring a group', () => {
  it('reads each cell against its floor round by round, pins it, and emits the cells in the order given', async () => {
    const emitted: CellResult[] = [];
    const arms: GroupArm[] = [
      { key: key('native-peer'), open: fakeArm((r) => 10 * drift(r)) },
      { key: key('framed'), floor: key('native-peer'), open: fakeArm((r) => 12 * drift(r)) },
    ];
    const cells = await measureGroup(context(emitted), arms, { label: 'g', figure: 'p50', minRounds: 6, maxRounds: 30, strictFloors: true, pinned: true });
    expect(cells.map((c) => c.transport)).toEqual(['native-peer', 'framed']);
    expect(emitted).toEqual(cells);
    const framed = cells[1]!;
    expect(framed.floor?.estimate).toBeCloseTo(1.2, 9);
    expect(framed.floor).toMatchObject({ floor: 'native-peer', strict: true, belowFloor: false, rounds: 6 });
    expect(framed.stable).toBe(true);
    expect(framed.group).toBe('g');
    expect(framed.pinning).toBe('shared core 0');
    expect(framed.rounds).toHaveLength(6); // settled at the first chance
    expect(framed.latency?.p50Us ?? 0).toBeGreaterThan(12);
  });

  it('flags a cell measured below a floor that bounds it, and only then', async () => {
    const arms: GroupArm[] = [
      { key: key('native-peer'), open: fakeArm((r) => 10 * drift(r)) },
      { key: key('framed'), floor: key('native-peer'), open: fakeArm((r) => 8 * drift(r)) },
    ];
    const strict = await measureGroup(context([]), arms, { label: 'g', figure: 'p50', minRounds: 6, maxRounds: 6, strictFloors: true });
    expect(strict[1]!.floor?.belowFloor).toBe(true);
    const reference = await measureGroup(context([]), arms, { label: 'g', figure: 'p50', minRounds: 6, maxRounds: 6, strictFloors: false });
    expect(reference[1]!.floor?.belowFloor).toBe(false);
  });

  it('keeps going while a cell drifts, and says so when the rounds run out', async () => {
    const arms: GroupArm[] = [
      { key: key('native-peer'), open: fakeArm(() => 10) },
      { key: key('framed'), floor: key('native-peer'), open: fakeArm((r) => (r % 2 === 0 ? 10 : 20)) },
    ];
    const cells = await measureGroup(context([]), arms, { label: 'g', figure: 'p50', minRounds: 6, maxRounds: 14, strictFloors: true });
    expect(cells[1]!.rounds).toHaveLength(14);
    expect(cells[1]).toMatchObject({ stable: false, unstableReason: 'still drifting' });
    expect(cells[0]!.stable).toBe(true);
  });

  it('fails a cell that cannot open, and measures the rest', async () => {
    const arms: GroupArm[] = [
      { key: key('native-peer'), open: () => Promise.reject(new HarnessError('SETUP_FAILED', 'no compiler')) },
      { key: key('framed'), floor: key('native-peer'), open: fakeArm(() => 10) },
    ];
    const cells = await measureGroup(context([]), arms, { label: 'g', figure: 'p50', minRounds: 6, maxRounds: 6, strictFloors: true });
    expect(cells[0]).toMatchObject({ status: 'failed', error: { code: 'SETUP_FAILED' } });
    expect(cells[1]).toMatchObject({ status: 'ok' });
    expect(cells[1]!.floor).toBeUndefined();
  });

  it('reports a connection lost to a dead process as SIDECAR_CRASHED, keeping the rounds measured before', async () => {
    const arms: GroupArm[] = [
      { key: key('native-peer'), open: fakeArm(() => 10) },
      { key: key('framed'), open: fakeArm(() => 10, { crashed: true, fail: (r) => (r === 3 ? new HarnessError('SIDECAR_CLOSED', 'gone') : undefined) }) },
    ];
    const cells = await measureGroup(context([]), arms, { label: 'g', figure: 'p50', minRounds: 6, maxRounds: 6, strictFloors: true });
    expect(cells[1]).toMatchObject({ status: 'failed', error: { code: 'SIDECAR_CRASHED' }, stable: false, unstableReason: 'errors' });
    expect(cells[1]!.rounds).toHaveLength(4);
    expect(cells[0]!.rounds).toHaveLength(6);
  });

  it('reports overhead from the compute time replies carried, one request at a time only', async () => {
    const arms: GroupArm[] = [
      { key: { ...key('in-process'), suite: 'cifar', family: 'in-process' }, open: fakeArm((r) => 1000 * drift(r) + 5, { computeUs: 1000 }) },
      { key: { ...key('framed'), suite: 'cifar' }, floor: { ...key('in-process'), suite: 'cifar', family: 'in-process' }, open: fakeArm((r) => 1000 * drift(r) + 150, { computeUs: 1000 }) },
    ];
    const plan = { label: 'g', figure: 'p50' as const, minRounds: 6, maxRounds: 6, strictFloors: true, untilSettled: false };
    const cells = await measureGroup(context([]), arms, { ...plan, overhead: true });
    expect(cells[1]!.overhead?.source).toBe('reply');
    expect(cells[1]!.overhead?.low ?? -1).toBeGreaterThanOrEqual(0);
    expect((await measureGroup(context([]), arms, plan))[1]!.overhead).toBeUndefined();
  });

  it('calls a connection dropped by the interruption ABORTED, and keeps a failure from an earlier round as it was', async () => {
    const abort = new AbortController();
    const arms: GroupArm[] = [
      { key: key('native-peer'), open: fakeArm(() => 10, { fail: (r) => (r === 1 ? new HarnessError('TIMEOUT', 'late') : undefined) }) },
      { key: key('framed'), open: fakeArm(() => 10, { fail: (r) => (r === 3 ? (abort.abort(), new HarnessError('SIDECAR_CLOSED', 'closed by the client')) : undefined) }) },
    ];
    const cells = await measureGroup(context([], abort.signal), arms, { label: 'g', figure: 'p50', minRounds: 10, maxRounds: 10, strictFloors: true });
    expect(cells[0]?.error?.code).toBe('TIMEOUT');
    expect(cells[1]?.error?.code).toBe('ABORTED');
  });

  it('marks the cells of an interrupted group ABORTED and keeps what they measured', async () => {
    const abort = new AbortController();
    const arms: GroupArm[] = [
      { key: key('native-peer'), open: fakeArm(() => 10) },
      { key: key('framed'), open: async () => ({ ...(await fakeArm(() => 10)()), block: async (r) => (r === 2 && abort.abort(), (await fakeArm(() => 10)()).block(r)) }) },
    ];
    const cells = await measureGroup(context([], abort.signal), arms, { label: 'g', figure: 'p50', minRounds: 10, maxRounds: 10, strictFloors: true });
    expect(cells.every((c) => c.error?.code === 'ABORTED')).toBe(true);
    expect(cells.every((c) => (c.rounds?.length ?? 0) >= 2)).toBe(true);
  });
});
