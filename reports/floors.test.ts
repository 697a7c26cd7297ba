import { describe, expect, it } from 'vitest';
import { adviceFor } from './advice.js';
import { toCsv } from './csv.js';
import { echoRun, fullRun, run } from './fixtures.js';
import { belowFloor, floorTables, sameRoundRatio } from './floors.js';

describe('floors', () => {
  it('takes any ratio within a group round by round, and none across groups', () => {
    const cells = echoRun().cells;
    const framed = cells.find((c) => c.id === 'echo/single-stream/framed/unix/payload=3072/c=1')!;
    const peer = cells.find((c) => c.id === 'echo/single-stream/native-peer/unix/payload=3072/c=1')!;
    const ratio = sameRoundRatio(framed, peer)!;
    expect(ratio.estimate).toBeCloseTo(framed.floor!.estimate, 9);
    expect(ratio.n).toBe(12);
    const otherGroup = cells.find((c) => c.id === 'echo/single-stream/native-peer/tcp/payload=3072/c=1')!;
    expect(sameRoundRatio(framed, otherGroup)).toBeUndefined();
  });

  it('lays out the 2x2 per family and payload, with the harness and protocol rows', () => {
    const tables = floorTables(echoRun());
    expect(tables.map((t) => `${t.family} ${t.payloadBytes}`)).toEqual(['unix 64', 'unix 3072', 'unix 1048576', 'tcp 64', 'tcp 3072', 'tcp 1048576']);
    const unix = tables[1]!;
    expect(unix.rows.map((r) => r.ratio)).toEqual([
      'native-client / native-pair',
      'framed / native-peer',
      'native-peer / native-pair',
      'framed / native-client',
      'framed / lean-node (framed)',
      'msgpack / lean-node (msgpack)',
      'msgpack / framed',
      'http-json (sync) / framed',
      'http-json (gthread) / framed',
      'grpc / framed',
    ]);
    const harness = unix.rows.find((r) => r.ratio === 'framed / lean-node (framed)')!;
    expect(harness.interval.estimate).toBeCloseTo((24.7 + 3072 / 1500) / (23 + 3072 / 1500), 1);
    expect(unix.pairP50Us).toBeCloseTo(14 + 3072 / 1500, 6);
  });

  it('lists the cells below a floor that bounds them', () => {
    const result = echoRun();
    expect(belowFloor(result)).toEqual([]);
    const [first, ...rest] = result.cells.filter((c) => c.floor !== undefined);
    const flagged = { ...first!, floor: { ...first!.floor!, estimate: 0.8, low: 0.7, high: 0.9, belowFloor: true } };
    expect(belowFloor(run([flagged, ...rest])).map((c) => c.id)).toEqual([first!.id]);
  });
});

describe('advice', () => {
  it('gives the stable share per suite and says what to do about each kind of problem', () => {
    const result = fullRun();
    const cells = result.cells.map((c, i) => (i % 7 === 0 ? { ...c, stable: false, unstableReason: 'still drifting' as const } : i % 11 === 0 ? { ...c, stable: false, unstableReason: 'too few samples' as const } : c));
    const advice = adviceFor({ ...result, cells });
    expect(advice.headline).toMatch(/^stable: \d+ of \d+ \(\d+%\) of the cells measured; echo \d+ of \d+/);
    expect(advice.lines.some((l) => /still drifting: .*--max-rounds/.test(l))).toBe(true);
    expect(advice.lines.some((l) => /too few samples: .*--limit/.test(l))).toBe(true);
    // In the fixture only the floors themselves drift (their microseconds follow the machine).
    expect(adviceFor(echoRun()).lines).toEqual([expect.stringMatching(/^\d+ cell\(s\) unstable, still drifting/)]);
  });

  it('puts a cell faster than its floor first, with its ratio and interval', () => {
    const result = echoRun();
    const i = result.cells.findIndex((c) => c.transport === 'framed');
    const cells = [...result.cells];
    cells[i] = { ...cells[i]!, floor: { ...cells[i]!.floor!, estimate: 0.8, low: 0.75, high: 0.85, belowFloor: true } };
    const advice = adviceFor({ ...result, cells });
    expect(advice.lines[0]).toMatch(/^FASTER THAN ITS FLOOR: 1 cell\(s\) .* at 0\.80 \[0\.75, 0\.85\] × native-peer/);
  });
});

describe('results.csv', () => {
  it('has the floor, overhead and stability columns, filled from the cell', () => {
    const csv = toCsv(fullRun().cells).split('\n');
    const header = csv[0]!.split(',');
    for (const column of ['wire', 'floor', 'floor_ratio', 'floor_ratio_ci_low', 'floor_ratio_ci_high', 'overhead_us', 'overhead_ci_low_us', 'overhead_ci_high_us', 'overhead_pct', 'rounds', 'unstable_reason']) expect(header).toContain(column);
    const row = (id: string): Record<string, string> => {
      const line = csv.find((l) => l.endsWith(`,${id}`))!.split(',');
      return Object.fromEntries(header.map((h, i) => [h, line[i] ?? '']));
    };
    const framed = row('cifar/single-stream/framed/unix/c=1/batch=1');
    expect(framed['floor']).toBe('in-process');
    expect(Number(framed['floor_ratio'])).toBeGreaterThan(1);
    expect(Number(framed['overhead_us'])).toBeCloseTo(190, 3);
    expect(Number(framed['overhead_pct'])).toBeCloseTo((190 / 1800) * 100, 1);
    expect(Number(framed['compute_us'])).toBe(1800);
    expect(row('echo/single-stream/lean-node/unix/wire=msgpack/payload=64/c=1')['wire']).toBe('msgpack');
  });

  it('tells the trials of one cell apart', () => {
    const cell = fullRun().cells[0]!;
    const [header, first, second] = toCsv([{ ...cell, trial: 1 }, { ...cell, trial: 2 }]).split('\n').map((l) => l.split(','));
    const at = header!.indexOf('trial');
    expect([first![at], second![at]]).toEqual(['1', '2']);
  });
});
