/**
 * What the floors say, derived from a run's cells as plain data. Cells of one interleaved group
 * share their rounds, so the ratio of any two of them is taken round by round (the drift of the
 * machine cancels) and carries a 95% interval, exactly like each cell's own floor ratio.
 *
 * The 2x2 floor of the echo suite, one request at a time, per family and payload:
 *
 *                     C echo peer      Python sidecar (framed)
 *   C client          native-pair      native-client
 *   Node client       native-peer      framed
 *
 * Down a column is what the client's language costs; across a row, what the server's costs.
 * `lean-node` (the leanest Node client) beside `framed` is what the harness's own client adds;
 * each other transport beside `framed` is what its protocol costs on the same machine.
 */
import type { CellResult, RunResult } from '../harness/results.js';
import { seriesName } from '../harness/results.js';
import { medianInterval, perRoundRatios, type Interval } from '../harness/stats/intervals.js';

/** A cell's headline figure by round number (rounds without a finite figure left out). */
export const figureByRound = (c: CellResult): Map<number, number> => new Map((c.rounds ?? []).filter((r) => Number.isFinite(r.figureUs)).map((r) => [r.round, r.figureUs]));

/** `a / b` round by round; undefined unless both were measured in the same group (and trial). */
export function sameRoundRatio(a: CellResult, b: CellResult): Interval | undefined {
  if (a.group === undefined || a.group !== b.group || a.trial !== b.trial || a.rounds === undefined || b.rounds === undefined) return undefined;
  return medianInterval(perRoundRatios(figureByRound(a), figureByRound(b)));
}

export interface FloorRow {
  /** What the ratio says, in words. */
  readonly question: string;
  /** `framed / native-peer`. */
  readonly ratio: string;
  readonly interval: Interval;
}

export interface FloorTable {
  /** The trial, with `--trials N`. */
  readonly trial?: number;
  readonly family: string;
  readonly payloadBytes: number;
  /** native-pair's p50 (µs): what a round trip costs with C at both ends. */
  readonly pairP50Us: number | undefined;
  readonly rows: readonly FloorRow[];
}

const single = (result: RunResult): CellResult[] => result.cells.filter((c) => c.status === 'ok' && c.suite === 'echo' && c.scenario === 'single-stream' && c.rounds !== undefined);

/** One table per single-stream echo group that has floors (per trial, with `--trials`), in the order measured. */
export function floorTables(result: RunResult): FloorTable[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of single(result)) {
    if (c.group === undefined) continue;
    const key = `${c.trial ?? 1}/${c.group}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const tables: FloorTable[] = [];
  for (const cells of groups.values()) {
    const find = (name: string): CellResult | undefined => cells.find((c) => seriesName(c) === name);
    const rows: FloorRow[] = [];
    const add = (question: string, a: string, b: string): void => {
      const x = find(a);
      const y = find(b);
      const interval = x === undefined || y === undefined ? undefined : sameRoundRatio(x, y);
      if (interval !== undefined) rows.push({ question, ratio: `${a} / ${b}`, interval });
    };
    add('Python server instead of C, with the C client', 'native-client', 'native-pair');
    add('Python server instead of C, with our Node client', 'framed', 'native-peer');
    add('Node client instead of C, against the C server', 'native-peer', 'native-pair');
    add('Node client instead of C, against the Python server', 'framed', 'native-client');
    add('our framed client beyond the leanest Node client', 'framed', 'lean-node (framed)');
    add('our msgpack client beyond the leanest Node client', 'msgpack', 'lean-node (msgpack)');
    for (const c of cells) {
      const name = seriesName(c);
      if (c.transport !== 'framed' && !['native-pair', 'native-peer', 'native-client', 'lean-node', 'no-op'].includes(c.transport)) add(`the ${name} protocol and stack instead of framed`, name, 'framed');
    }
    const first = cells[0];
    if (rows.length === 0 || first === undefined) continue;
    const pair = find('native-pair');
    const family = cells.find((c) => c.family !== 'in-process')?.family ?? first.family;
    tables.push({ ...(first.trial === undefined ? {} : { trial: first.trial }), family, payloadBytes: first.payloadBytes ?? 0, pairP50Us: pair?.latency?.p50Us, rows });
  }
  return tables;
}

/** Cells whose whole interval lies below a floor that bounds them: a measurement to look into. */
export function belowFloor(result: RunResult): CellResult[] {
  return result.cells.filter((c) => c.floor?.belowFloor === true);
}
