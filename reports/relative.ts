/**
 * Floor-relative results for `compare --relative`: every cell's latencies divided by the floor
 * measured in the same run (echo: the native C peer on the same family and payload; cifar and
 * gemma: the model in-process at the same batch or length). On a machine whose speed drifts
 * between runs, "how far above the floor" moves far less than raw microseconds.
 */
import type { CellResult, RunResult } from '../harness/results.js';

const FLOORS = new Set(['native-peer', 'no-op', 'in-process']);

function floorKey(cell: CellResult): string | undefined {
  if (cell.suite === 'echo') return `echo/${cell.family}/${cell.payloadBytes ?? 3072}`;
  if (cell.suite === 'cifar') return 'cifar';
  return `gemma/${cell.samplingSteps ?? 0}`;
}

function floorsOf(run: RunResult): Map<string, number> {
  const floors = new Map<string, number>();
  for (const c of run.cells) {
    const p50 = c.latency?.p50Us;
    if (c.status !== 'ok' || p50 === undefined || c.scenario !== 'single-stream') continue;
    if (c.suite === 'echo' && c.transport === 'native-peer') floors.set(`echo/${c.family}/${c.payloadBytes ?? 3072}`, p50);
    if (c.suite === 'cifar' && c.transport === 'in-process') floors.set('cifar', p50);
    if (c.suite === 'gemma' && c.transport === 'in-process') floors.set(`gemma/${c.samplingSteps ?? 0}`, p50);
  }
  return floors;
}

function scaled(cell: CellResult, floorUs: number): CellResult {
  const l = cell.latency;
  return {
    ...cell,
    ...(l === undefined ? {} : { latency: { ...l, p50Us: l.p50Us / floorUs, meanUs: l.meanUs / floorUs, p90Us: l.p90Us / floorUs, p99Us: l.p99Us / floorUs } }),
    ...(cell.samplesUs === undefined ? {} : { samplesUs: cell.samplesUs.map((v) => v / floorUs) }),
    ...(cell.throughputRps === undefined ? {} : { throughputRps: cell.throughputRps * floorUs }),
  };
}

/** The run with every non-floor cell in units of its floor; cells without a floor in the run are dropped. */
export function relativeToFloor(run: RunResult): RunResult {
  const floors = floorsOf(run);
  const cells = run.cells.flatMap((c) => {
    if (FLOORS.has(c.transport)) return [];
    const key = floorKey(c);
    const floor = key === undefined ? undefined : floors.get(key);
    return floor === undefined || floor <= 0 ? [] : [scaled(c, floor)];
  });
  return { ...run, cells };
}
