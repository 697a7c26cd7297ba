/** Latency charts: echo percentiles per payload, p50 against payload, echo over its floor, and the CDFs of the answer's cells. */
import type { TopLevelSpec } from 'vega-lite';
import type { RunResult } from '../harness/results.js';
import { type Chart, labelOrder, transportColour, familyDash, seriesLines, familyRow, ok, base, BYTES_LABEL, logTicks, timeAxis, medianTrial, absent } from './chart-parts.js';
import { answerFor } from './answer.js';
import { formatBytes } from './units.js';

/** p50/p90/p99/p99.9 of echo one request at a time, one panel per payload measured. */
export function latencyPercentilesChart(result: RunResult): Chart {
  const id = 'latency-percentiles';
  const title = 'Echo latency percentiles, single-stream';
  const caption = 'The latency profile of one request at a time: p50, p90, p99 and p99.9 per transport, one panel per payload measured. Colour is the transport, dash the family; log scale, lower is better. The climb from p50 to p99.9 is the tail.';
  const cells = medianTrial(ok(result, (c) => c.suite === 'echo' && c.scenario === 'single-stream' && c.payloadBytes !== undefined && c.latency !== undefined && c.transport !== 'no-op'));
  if (cells.length === 0) return absent(id, title, caption);
  const names = ['p50', 'p90', 'p99', 'p99.9'];
  const values = cells.flatMap((c) => {
    const l = c.latency!;
    return [l.p50Us, l.p90Us, l.p99Us, l.p999Us].map((us, i) => ({ ...base(c), payload: formatBytes(c.payloadBytes!), payloadBytes: c.payloadBytes!, percentile: names[i] as string, us }));
  });
  const payloads = [...new Set(values.map((v) => v.payloadBytes))].sort((a, b) => a - b).map(formatBytes);
  const spec: TopLevelSpec = {
    data: { values },
    facet: { column: { field: 'payload', type: 'nominal', title: 'payload', sort: payloads } },
    spec: {
      width: payloads.length > 2 ? 240 : 320,
      height: 260,
      ...seriesLines(result, values, { field: 'percentile', type: 'ordinal', sort: names, title: 'percentile', axis: { labelAngle: 0 } }, { field: 'us', type: 'quantitative', aggregate: 'median', ...timeAxis(values.map((v) => v.us), 'latency (log scale)') }),
    },
  };
  return { id, title, caption, spec };
}

/** Log bytes, padded to the sizes measured; symmetric-log only when 0 B was measured (log cannot place 0). */
function payloadScale(sizes: readonly number[]): { type: 'log' | 'symlog'; nice: boolean; domain?: number[] } {
  const [min, max] = [Math.min(...sizes), Math.max(...sizes)];
  return min <= 0 ? { type: 'symlog', nice: false } : { type: 'log', nice: false, domain: [min / 1.4, max * 1.4] };
}

/** p50 against payload size, one request at a time. */
export function latencyVsPayloadChart(result: RunResult): Chart {
  const id = 'latency-payload';
  const title = 'Echo p50 latency vs payload size, single-stream';
  const caption = 'Median latency of one request at a time as the payload grows (log x, symmetric-log when 0 B was measured; log y). Colour is the transport, dash the family; the slope at large payloads is the per-byte cost.';
  const cells = ok(result, (c) => c.suite === 'echo' && c.scenario === 'single-stream' && c.payloadBytes !== undefined && c.latency !== undefined);
  const sizes = new Set(cells.map((c) => c.payloadBytes)).size;
  if (sizes < 2) return absent(id, title, caption, sizes === 0 ? 'not measured in this run' : `the run measured one payload size, and a line needs two (\`--payloads 64,3072,64KiB\`)`);
  const values = cells.map((c) => ({ ...base(c), payloadBytes: c.payloadBytes!, p50Us: c.latency!.p50Us }));
  const ticks = [...new Set(values.map((v) => v.payloadBytes))].sort((a, b) => a - b);
  const spec: TopLevelSpec = {
    data: { values },
    width: 520,
    height: 300,
    ...seriesLines(
      result,
      values,
      { field: 'payloadBytes', type: 'quantitative', title: 'payload', scale: payloadScale(ticks), axis: { values: ticks, labelExpr: BYTES_LABEL, labelAngle: 0, labelOverlap: 'greedy' } },
      { field: 'p50Us', type: 'quantitative', aggregate: 'median', ...timeAxis(values.map((v) => v.p50Us), 'p50 latency (log scale)') },
    ),
  };
  return { id, title, caption, spec };
}

/** Each echo cell over its floor, one request at a time, round by round, with its 95% interval; a panel per payload and family. */
export function calibrationChart(result: RunResult): Chart {
  const id = 'calibration';
  const title = 'Echo over its floor, one request at a time';
  const caption =
    "Each dot is a cell's p50 over its floor's, taken round by round in the same moments (the black line is its 95% interval): transports and lean-node over native-peer (our framed client against a C echo server), native-peer and native-client over native-pair (C at both ends). One panel per payload (columns) and family (rows). The dashed line at 1 is the floor itself; no interval should lie left of it.";
  const cells = medianTrial(ok(result, (c) => c.suite === 'echo' && c.scenario === 'single-stream' && c.floor !== undefined));
  const values = cells.map((c) => ({ ...base(c), payloadBytes: c.payloadBytes ?? 0, payload: formatBytes(c.payloadBytes ?? 0), ratio: c.floor!.estimate, low: c.floor!.low, high: c.floor!.high, floor: c.floor!.floor }));
  if (values.length === 0) return absent(id, title, caption);
  const payloads = [...new Set(values.map((v) => v.payloadBytes))].sort((a, b) => a - b).map(formatBytes);
  const y = { field: 'transport', type: 'nominal', title: null, sort: labelOrder(values.map((v) => v.transport)) } as const;
  const [lo, hi] = [Math.min(1, ...values.map((v) => v.low)) / 1.1, Math.max(...values.map((v) => v.high)) * 1.3];
  const x = { field: 'ratio', type: 'quantitative' as const, title: 'p50 / floor p50 (log scale)', scale: { type: 'log' as const, nice: false, domain: [lo, hi] }, axis: { values: logTicks(lo, hi), labelAngle: 0 } };
  const spec: TopLevelSpec = {
    data: { values },
    facet: { column: { field: 'payload', type: 'nominal', title: 'payload', sort: payloads }, row: familyRow },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: payloads.length > 2 ? 230 : 340,
      layer: [
        { mark: { type: 'rule', color: '#999', strokeDash: [4, 4] }, encoding: { x: { datum: 1, type: 'quantitative' } } },
        { mark: { type: 'rule', color: '#222' }, encoding: { y, x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
        { mark: { type: 'point', filled: true, size: 70 }, encoding: { y, x, color: transportColour(result, values), tooltip: [{ field: 'floor', title: 'floor' }] } },
        { mark: { type: 'text', align: 'left', dx: 4, dy: -7, fontSize: 10 }, encoding: { y, x: { field: 'high', type: 'quantitative' }, text: { field: 'ratio', type: 'quantitative', format: '.2f' } } },
      ],
    },
  };
  return { id, title, caption, spec };
}

/** Up to ~100 points of a sample's empirical CDF, denser in the tail (where the transports differ). */
export function cdfPoints(samplesUs: readonly number[]): { us: number; fraction: number }[] {
  const sorted = samplesUs.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [];
  const qs = [...Array.from({ length: 91 }, (_, i) => i / 100), 0.92, 0.94, 0.96, 0.98, 0.99, 0.995, 0.999, 1];
  const points = qs.map((q) => ({ us: sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] as number, fraction: q }));
  return points.filter((p, i) => i === 0 || p.us !== points[i - 1]?.us || p.fraction === 1);
}

const MIN_CDF_SAMPLES = 5;

/** Latency CDFs of the cells the answer table is about, one panel per suite. */
export function latencyCdfChart(result: RunResult): Chart {
  const id = 'latency-cdf';
  const title = 'Latency distribution (CDF) of the cells in the answer';
  const caption =
    "For each transport in the answer table, the share of requests (y) that finished within a latency (x, log scale), from the raw samples the run kept. Colour is the transport, dash the family. A curve further left is faster; a long flat top is the tail. Gemma-like suites show their unary cells beside the in-process model.";
  const wanted = new Set(answerFor(result).flatMap((a) => {
    const unary = a.rows.some((r) => r.mode === 'unary');
    return a.rows.filter((r) => r.ok && (!unary || r.mode !== 'stream' || r.floor)).map((r) => r.id);
  }));
  const cells = medianTrial(ok(result, (c) => wanted.has(c.id) && (c.samplesUs?.length ?? 0) >= MIN_CDF_SAMPLES));
  if (cells.length === 0) return absent(id, title, caption, wanted.size === 0 ? 'not measured in this run' : `no cell of the answer kept ${MIN_CDF_SAMPLES} or more raw samples`);
  const values = cells.flatMap((c) => cdfPoints(c.samplesUs ?? []).map((p) => ({ ...base(c), series: c.id, ...p })));
  const suites = [...new Set(values.map((v) => v.suite))];
  const unit = (shown: typeof values) => ({
    width: 420,
    height: 240,
    encoding: {
      x: { field: 'us', type: 'quantitative', ...timeAxis(shown.map((v) => v.us), 'latency (log scale)') },
      y: { field: 'fraction', type: 'quantitative', title: 'share of requests', axis: { format: '.0%' }, scale: { domain: [0, 1] } },
      color: transportColour(result, values),
      detail: { field: 'series', type: 'nominal' },
    },
    layer: [{ mark: { type: 'line', interpolate: 'step-after' }, encoding: { strokeDash: familyDash(values) } }],
  });
  // One panel per suite, each with its own time axis (echo's µs and a model's ms do not share one).
  const spec = { data: { values }, vconcat: suites.map((suite) => ({ title: suite, transform: [{ filter: { field: 'suite', equal: suite } }], ...unit(values.filter((v) => v.suite === suite)) })), resolve: { scale: { x: 'independent' } } } as TopLevelSpec;
  return { id, title, caption, spec };
}

