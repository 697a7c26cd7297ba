/** Turning a cell's blocks into a CellResult; one place for the status, error and stability rules. */
import type { HarnessError, HarnessErrorCode } from '../../transports/errors.js';
import type { PlacedBlock } from '../load/rounds.js';
import { cellId, type CellKey, type CellResult, type FigureKind, type FloorComparison, type OverheadEstimate } from '../results.js';
import { medianInterval } from '../stats/intervals.js';
import { createRecorder } from '../stats/recorder.js';
import { figureInterval, judgeStability, roundStat } from '../stats/round-figures.js';

export interface CellExtras {
  readonly figure: FigureKind;
  readonly group?: string;
  readonly pinning?: string;
  readonly floor?: FloorComparison;
  readonly overhead?: OverheadEstimate;
  readonly stabilityPct: number;
  readonly metrics?: Record<string, number | null>;
  readonly sidecar?: Record<string, unknown>;
  /** Why the cell stopped early, when it did (a lost connection, a timeout, Ctrl-C). */
  readonly error?: HarnessError;
}



export function cellFromBlocks(key: CellKey, blocks: readonly PlacedBlock[], extras: CellExtras): CellResult {
  const recorder = createRecorder();
  const errorsByCode: Partial<Record<HarnessErrorCode, number>> = {};
  let requests = 0;
  let errors = 0;
  let durationNs = 0;
  for (const block of blocks) {
    for (const ns of block.latenciesNs) recorder.record(ns);
    requests += block.requests;
    errors += block.errors;
    durationNs += block.durationNs;
    for (const [code, n] of Object.entries(block.errorsByCode)) errorsByCode[code as HarnessErrorCode] = (errorsByCode[code as HarnessErrorCode] ?? 0) + (n ?? 0);
  }
  const stats = blocks.map((b) => roundStat(b, extras.figure));
  // Open-loop blocks: how much of the offered load went out and came back.
  const open = blocks.some((b) => b.scheduled !== undefined);
  const offered = open ? { scheduled: blocks.reduce((n, b) => n + (b.scheduled ?? 0), 0), dropped: blocks.reduce((n, b) => n + (b.dropped ?? 0), 0) } : {};
  const latency = recorder.summary();
  const p50s = medianInterval(stats.map((s) => s.p50Us));
  const means = medianInterval(blocks.filter((b) => b.latenciesNs.length > 0).map((b) => b.latenciesNs.reduce((a, x) => a + x, 0) / b.latenciesNs.length / 1000));
  const headline = extras.floor ?? figureInterval(stats);
  const stability = judgeStability(stats, errors, headline, extras.stabilityPct);
  const ok = requests - errors;
  return {
    ...key,
    id: cellId(key),
    status: extras.error === undefined ? 'ok' : 'failed',
    ...(extras.error === undefined ? {} : { error: { code: extras.error.code, message: extras.error.message } }),
    requests,
    errors,
    errorsByCode,
    ...(latency === undefined ? {} : { latency }),
    ...(p50s === undefined ? {} : { roundsP50Us: p50s.estimate }),
    ...(p50s === undefined || means === undefined ? {} : { ci95: { p50Us: [p50s.low, p50s.high], meanUs: [means.low, means.high] } }),
    ...(durationNs > 0 ? { throughputRps: (ok * 1e9) / durationNs } : {}),
    durationMs: durationNs / 1e6,
    ...(extras.group === undefined ? {} : { group: extras.group }),
    ...(extras.pinning === undefined ? {} : { pinning: extras.pinning }),
    figure: extras.figure,
    rounds: stats,
    ...(extras.floor === undefined ? {} : { floor: extras.floor }),
    ...(extras.overhead === undefined ? {} : { overhead: extras.overhead }),
    stable: stability.stable,
    ...(stability.reason === undefined ? {} : { unstableReason: stability.reason }),
    samplesUs: recorder.samplesUs(),
    histogram: recorder.encodedHistogram(),
    metrics: { ...offered, ...(open && durationNs > 0 ? { achieved_rps: (ok * 1e9) / durationNs } : {}), ...extras.metrics },
    ...(extras.sidecar === undefined ? {} : { sidecar: extras.sidecar }),
  };
}

/** A cell that could not be measured at all (its sidecar would not start, say). */
export function failedCell(key: CellKey, error: HarnessError, sidecar?: Record<string, unknown>): CellResult {
  return {
    ...key,
    id: cellId(key),
    status: 'failed',
    error: { code: error.code, message: error.message },
    requests: 0,
    errors: 0,
    errorsByCode: {},
    durationMs: 0,
    metrics: {},
    ...(sidecar === undefined ? {} : { sidecar }),
  };
}
