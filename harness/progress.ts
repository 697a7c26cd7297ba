/**
 * Progress on long runs: a live line on a TTY (cell, % done, ETA), plain log lines otherwise.
 * The total is fixed before the first cell (harness/plan.ts); a suite's own announcement replaces
 * its share. The ETA is per suite, from that suite's mean time per cell so far (a CIFAR cell takes
 * far longer than an echo cell, so one mean over the run would jump at every suite boundary);
 * suites still to come are named, not guessed.
 */
import { formatBytes, formatDuration } from '../reports/units.js';
import type { Progress } from './contracts.js';
import type { PlannedSuite } from './plan.js';
import { seriesName, type CellKey, type CellResult } from './results.js';

function formatMs(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** What tells a cell apart, in words: `gemma single-stream steps=8 · framed · unix · stream`. */
export function cellLabel(key: CellKey): string {
  const shape: string[] = [key.suite, key.scenario];
  if (key.payloadBytes !== undefined) shape.push(formatBytes(key.payloadBytes));
  if (key.concurrency > 1 || key.scenario === 'concurrency') shape.push(`c=${key.concurrency}`);
  if (key.batch !== undefined && key.batch > 1) shape.push(`batch ${key.batch}`);
  if (key.samplingSteps !== undefined) shape.push(`steps=${key.samplingSteps}`);
  if (key.loadFraction !== undefined) shape.push(`load ${key.loadFraction}`);
  else if (key.targetRps !== undefined) shape.push(`${key.targetRps}/s`);
  const parts = [shape.join(' '), seriesName(key), key.family];
  if (key.streaming !== undefined) parts.push(key.streaming ? 'stream' : 'unary');
  return parts.join(' · ');
}

const us = (x: number): string => formatDuration(x, 'us');

export function summarizeCell(cell: CellResult): string {
  if (cell.status === 'failed') return `FAILED ${cell.error?.code ?? ''}: ${(cell.error?.message ?? '').split('\n')[0] ?? ''}`;
  const l = cell.latency;
  const parts = l === undefined ? [] : [`p50 ${us(l.p50Us)}`, `p99 ${us(l.p99Us)}`];
  if (cell.throughputRps !== undefined) parts.push(`${cell.throughputRps.toFixed(0)} req/s`);
  for (const [k, v] of Object.entries(cell.metrics)) if (v !== null && ['images_per_s', 'accuracy', 'tokens_per_s', 'achieved_rps'].includes(k)) parts.push(`${k} ${v.toFixed(k === 'accuracy' ? 4 : 1)}`);
  if (cell.errors > 0) parts.push(`${cell.errors} errors`);
  if (cell.floor !== undefined) parts.push(`${cell.floor.estimate.toFixed(2)}x ${cell.floor.floor}${cell.floor.belowFloor ? ' (BELOW ITS FLOOR)' : ''}`);
  if (cell.overhead !== undefined) parts.push(`overhead ${us(cell.overhead.estimate)}${cell.overhead.pct === undefined ? '' : ` (${cell.overhead.pct.toFixed(1)}%)`}`);
  if (cell.stable === false) parts.push(`unstable: ${cell.unstableReason ?? 'unknown'}`);
  return parts.join(', ');
}

interface Share {
  suite: string;
  cells: number | undefined;
  done: number;
  startedAt?: number;
  /**
   * The cells of an interleaved group are measured together and finish in one burst: the time of
   * the whole group shows at its first cell. `size` (from `start`) lets the ETA divide that time by
   * the group's cells at once, and keep that rate through the burst, instead of dividing by one
   * and then dropping with every line of the burst.
   */
  burst?: { size: number; before: number; msPerCell?: number };
}

/**
 * The counting behind the status line, apart from the stream so it can be tested with a clock.
 * Without a plan (ab's coordinator), every `plan` call adds to the total as it comes.
 */
export function progressState(planned: readonly PlannedSuite[] | undefined, now: () => number = () => performance.now()) {
  const shares: Share[] = (planned ?? []).map((p) => ({ suite: p.suite, cells: p.cells, done: 0 }));
  let current: Share | undefined;
  let next = 0;
  let finished = 0;
  const total = (): number => shares.reduce((n, s) => n + (s.cells ?? 0), 0);
  const unknown = (): boolean => shares.slice(next).some((s) => s.cells === undefined);
  return {
    plan(cells: number): void {
      if (planned === undefined || next >= shares.length) {
        shares.push({ suite: '', cells, done: 0, startedAt: now() });
        next = shares.length;
        current = shares[shares.length - 1];
        return;
      }
      current = shares[next++] as Share;
      current.cells = cells;
      current.startedAt = now();
    },
    /** A unit of work that will finish `cells` cells together (an interleaved group) starts. */
    start(cells: number | undefined): void {
      if (current !== undefined && cells !== undefined && cells > 0) current.burst = { size: cells, before: current.done };
    },
    done(suite: string): void {
      finished += 1;
      // A suite that failed before announcing its cells never ran: its share leaves the total.
      if (planned !== undefined && current !== undefined && current.suite !== '' && current.suite !== suite) {
        const j = shares.findIndex((s, i) => i >= next && s.suite === suite);
        if (j >= 0) {
          shares.splice(j, 1);
          current.suite = suite;
        }
      }
      if (current !== undefined) {
        current.done += 1;
        const b = current.burst;
        if (b !== undefined && b.msPerCell === undefined && current.startedAt !== undefined) b.msPerCell = (now() - current.startedAt) / (b.before + b.size);
        if (b !== undefined && current.done >= b.before + b.size) delete current.burst;
      }
    },
    status(): string {
      const all = total();
      const pct = all > 0 ? Math.min(100, Math.round((finished / all) * 100)) : 0;
      const parts = [`${finished}/${all}${unknown() ? '+' : ''} ${pct}%`];
      const c = current;
      if (c !== undefined && c.startedAt !== undefined && c.done > 0 && c.cells !== undefined && c.cells > c.done) {
        const eta = formatMs((c.burst?.msPerCell ?? (now() - c.startedAt) / c.done) * (c.cells - c.done));
        parts.push(`${c.suite === '' ? 'ETA' : `${c.suite} ETA`} ${eta}`);
      }
      const later = [...new Set(shares.slice(next).map((s) => s.suite).filter((s) => s !== ''))];
      if (later.length > 0 && c !== undefined) parts.push(`then ${later.join(', ')}`);
      return `[${parts.join(', ')}]`;
    },
  };
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, planned?: readonly PlannedSuite[]): Progress {
  const live = stream.isTTY === true && process.env['CI'] === undefined;
  const state = progressState(planned);
  const clear = (): void => {
    if (live) stream.write('\r\x1b[2K');
  };
  return {
    plan(cells) {
      state.plan(cells);
    },
    start(label, cells) {
      state.start(cells);
      if (live) {
        clear();
        stream.write(`${state.status()} ${label}`.slice(0, (stream.columns ?? 120) - 1));
      }
    },
    done(cell) {
      state.done(cell.suite);
      clear();
      stream.write(`${state.status()} ${cellLabel(cell)}: ${summarizeCell(cell)}\n`);
    },
    log(message) {
      clear();
      stream.write(`${message}\n`);
    },
  };
}
