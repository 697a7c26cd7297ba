/** Load charts: throughput as in-flight requests grow (closed loop), and the open-loop server scenario. */
import type { TopLevelSpec } from 'vega-lite';
import type { RunResult } from '../harness/results.js';
import { type Chart, seriesLines, finite, ok, base, timeAxis, absent } from './chart-parts.js';

/** Throughput as in-flight requests grow (closed loop); one panel per suite when there are several. */
export function throughputVsConcurrencyChart(result: RunResult): Chart {
  const id = 'throughput-concurrency';
  const title = 'Throughput vs concurrency';
  const caption = 'Completed requests per second with N requests in flight (closed loop). A line that flattens early means the transport or sidecar serialises requests.';
  const sweep = ok(result, (c) => c.scenario === 'concurrency' && finite(c.throughputRps));
  // The model suites sweep from 2 in flight up: their single-stream pass (unary, the sweep's
  // generation length) is the point at 1.
  const sweepSteps = new Set(sweep.filter((c) => c.suite === 'gemma').map((c) => c.samplingSteps));
  const ones = ok(
    result,
    (c) =>
      c.scenario === 'single-stream' && c.suite !== 'echo' && c.transport !== 'in-process' && c.concurrency === 1 && c.streaming !== true &&
      (c.suite !== 'gemma' || sweepSteps.has(c.samplingSteps)) && finite(c.throughputRps),
  );
  const all = sweep.length === 0 ? [] : [...sweep, ...ones];
  // A suite whose sweep has one point would draw dots, not lines: leave it out and say so.
  const levels = (suite: string): number => new Set(all.filter((c) => c.suite === suite).map((c) => c.concurrency)).size;
  const cells = all.filter((c) => levels(c.suite) >= 2);
  const dropped = [...new Set(all.map((c) => c.suite as string))].filter((s) => levels(s) < 2);
  if (cells.length === 0) return absent(id, title, caption, all.length === 0 ? 'not measured in this run' : 'each suite was measured at one concurrency only, and a line needs two');
  const values = cells.map((c) => ({ ...base(c), concurrency: c.concurrency, rps: c.throughputRps! }));
  const suites = new Set(values.map((v) => v.suite));
  const unit = {
    width: 360,
    height: 260,
    ...seriesLines(
      result,
      values,
      { field: 'concurrency', type: 'ordinal', title: 'requests in flight', sort: 'ascending', axis: { labelAngle: 0 } },
      { field: 'rps', type: 'quantitative', aggregate: 'median', title: 'throughput (req/s)' },
    ),
  };
  // Each suite's axis runs over the concurrencies it measured, not the union of all suites'.
  const spec: TopLevelSpec =
    suites.size > 1
      ? { data: { values }, facet: { column: { field: 'suite', type: 'nominal' } }, resolve: { scale: { x: 'independent', y: 'independent' } }, spec: unit }
      : { data: { values }, ...unit };
  const note = dropped.length === 0 ? '' : ` Left out: ${dropped.join(', ')} (one concurrency measured).`;
  return { id, title, caption: caption + note, spec };
}

/** Open-loop offered rate: what was achieved, and the p99 it cost. */
export function serverScenarioChart(result: RunResult): Chart {
  const id = 'server-rate';
  const title = 'Achieved rate and p99 vs offered rate (server scenario)';
  const caption = 'Requests are offered on a fixed schedule. Left: achieved vs offered (the grey dashed line is "kept up"); right: p99 latency. Where achieved falls below offered, or p99 climbs steeply, the transport has saturated.';
  const measured = ok(result, (c) => c.scenario === 'server' && c.targetRps !== undefined);
  // One offered rate per suite is one point per line: such a suite's panel is left out.
  const rates = (suite: string): number => new Set(measured.filter((c) => c.suite === suite).map((c) => c.targetRps)).size;
  const cells = measured.filter((c) => rates(c.suite) >= 2);
  const dropped = [...new Set(measured.map((c) => c.suite as string))].filter((s) => rates(s) < 2);
  if (cells.length === 0) return absent(id, title, caption, measured.length === 0 ? 'not measured in this run' : `each suite was offered one rate (${dropped.join(', ')}), and a line needs two (\`--rates 500,2000,8000\`)`);
  const values = cells.map((c) => ({
    ...base(c),
    targetRps: c.targetRps!,
    achievedRps: c.metrics['achieved_rps'] ?? c.throughputRps ?? 0,
    ...(c.latency === undefined ? {} : { p99Us: c.latency.p99Us }),
  }));
  const x = { field: 'targetRps', type: 'quantitative', title: 'offered (req/s)', axis: { format: ',.3~r', labelAngle: 0, labelOverlap: 'greedy' } } as const;
  const rows = [...new Set(values.map((v) => v.suite))].map((suite) => ({
    transform: [{ filter: { field: 'suite', equal: suite } }],
    hconcat: [
      {
        title: `${suite}: achieved rate`,
        width: 300,
        height: 240,
        layer: [
          { mark: { type: 'line', strokeDash: [3, 3], color: '#999' }, encoding: { x, y: { field: 'targetRps', type: 'quantitative' } } },
          seriesLines(result, values, x, { field: 'achievedRps', type: 'quantitative', aggregate: 'median', title: 'achieved (req/s)' }),
        ],
      },
      {
        title: `${suite}: p99 latency`,
        width: 300,
        height: 240,
        ...seriesLines(result, values, x, { field: 'p99Us', type: 'quantitative', aggregate: 'median', ...timeAxis(values.flatMap((v) => (v.p99Us === undefined ? [] : [v.p99Us])), 'p99 (log scale)') }),
      },
    ],
  }));
  const spec = { data: { values }, vconcat: rows } as TopLevelSpec;
  return { id, title, caption: dropped.length === 0 ? caption : `${caption} Left out: ${dropped.join(', ')} (one offered rate).`, spec };
}

