/**
 * Floor-relative results for `compare --relative`: every cell's latencies divided by the floor
 * measured in the same run (echo: the native C peer on the same family and payload; any suite
 * with an in-process cell: the model in-process at the same batch or length). On a machine whose speed drifts
 * between runs, "how far above the floor" moves far less than raw microseconds.
 */
import type { CellResult, RunResult } from '../harness/results.js';

const FLOORS = new Set(['native-peer', 'no-op', 'in-process']);

/**
 * Where a cell's floor is filed. Echo: the native peer on the same family and payload. Any other
 * suite (cifar, gemma, `model`, one added later): the model in-process at the same batch, length
 * and payload, so a new suite gets its floor without an edit here.
 */
function floorKey(cell: CellResult): string {
  if (cell.suite === 'echo') return `echo/${cell.family}/${cell.payloadBytes ?? 3072}`;
  return `${cell.suite}/batch=${cell.batch ?? 1}/steps=${cell.samplingSteps ?? 0}/payload=${cell.payloadBytes ?? 0}`;
}

function isFloor(cell: CellResult): boolean {
  return cell.suite === 'echo' ? cell.transport === 'native-peer' : cell.transport === 'in-process';
}

function floorsOf(run: RunResult): Map<string, number> {
  const floors = new Map<string, number>();
  // One request at a time is the floor; a model's offline batches (measured only there) fill in the rest.
  const ranked = [...run.cells].sort((a, b) => Number(b.scenario === 'single-stream') - Number(a.scenario === 'single-stream'));
  for (const c of ranked) {
    const p50 = c.latency?.p50Us;
    const usable = c.scenario === 'single-stream' || (c.suite !== 'echo' && c.concurrency === 1);
    if (c.status === 'ok' && p50 !== undefined && usable && isFloor(c) && !floors.has(floorKey(c))) floors.set(floorKey(c), p50);
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
    const floor = floors.get(floorKey(c));
    return floor === undefined || floor <= 0 ? [] : [scaled(c, floor)];
  });
  return { ...run, cells };
}
