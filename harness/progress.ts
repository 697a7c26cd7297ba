/** Progress on long runs: a live line on a TTY (suite, cell, % done, ETA), plain log lines otherwise. */
import type { CellResult } from './results.js';
import type { Progress } from './suites/context.js';

function formatMs(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function summarizeCell(cell: CellResult): string {
  if (cell.status === 'failed') return `FAILED ${cell.error?.code ?? ''}: ${(cell.error?.message ?? '').split('\n')[0] ?? ''}`;
  const l = cell.latency;
  const parts = l === undefined ? [] : [`p50 ${l.p50Us.toFixed(1)}us`, `p99 ${l.p99Us.toFixed(1)}us`];
  if (cell.throughputRps !== undefined) parts.push(`${cell.throughputRps.toFixed(0)} req/s`);
  for (const [k, v] of Object.entries(cell.metrics)) if (v !== null && ['images_per_s', 'accuracy', 'tokens_per_s', 'achieved_rps'].includes(k)) parts.push(`${k} ${v.toFixed(k === 'accuracy' ? 4 : 1)}`);
  if (cell.errors > 0) parts.push(`${cell.errors} errors`);
  if (cell.floor !== undefined) parts.push(`${cell.floor.estimate.toFixed(2)}x ${cell.floor.floor}${cell.floor.belowFloor ? ' (BELOW ITS FLOOR)' : ''}`);
  if (cell.overhead !== undefined) parts.push(`overhead ${cell.overhead.estimate.toFixed(1)}us (${cell.overhead.pct.toFixed(1)}%)`);
  if (cell.stable === false) parts.push(`unstable: ${cell.unstableReason ?? 'unknown'}`);
  return parts.join(', ');
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  const live = stream.isTTY === true && process.env['CI'] === undefined;
  const startedAt = performance.now();
  let planned = 0;
  let finished = 0;
  const status = (): string => {
    const pct = planned > 0 ? Math.min(100, Math.round((finished / planned) * 100)) : 0;
    const elapsed = performance.now() - startedAt;
    const eta = finished > 0 && planned > finished ? ` ETA ${formatMs((elapsed / finished) * (planned - finished))}` : '';
    return `[${finished}/${planned} ${pct}%${eta}]`;
  };
  const clear = (): void => {
    if (live) stream.write('\r\x1b[2K');
  };
  return {
    plan(cells) {
      planned += cells;
    },
    start(label) {
      if (live) {
        clear();
        stream.write(`${status()} ${label}`.slice(0, (stream.columns ?? 120) - 1));
      }
    },
    done(cell) {
      finished += 1;
      clear();
      stream.write(`${status()} ${cell.id}: ${summarizeCell(cell)}\n`);
    },
    log(message) {
      clear();
      stream.write(`${message}\n`);
    },
  };
}
