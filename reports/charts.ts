/**
 * The report's charts as Vega-Lite specs built from plain results, one function per chart.
 * Longer than the house's soft limit because it holds every chart; each function stays short,
 * and the shared pieces (series labels, the transport colour scale) live at the top.
 *
 * A chart whose cells are absent from the run comes back without a spec ("not measured").
 * Colour always means transport, named as everywhere else (`http-json (sync)` for an HTTP
 * set-up); line dash or facet column means family.
 */
import type { TopLevelSpec } from 'vega-lite';
import { BASELINE_NAMES, seriesName, type CellResult, type RunResult } from '../harness/results.js';
import { HTTP_SETUPS, TRANSPORT_NAMES } from '../transports/types.js';

export interface Chart {
  /** Stable id: the `data-chart` attribute of the chart's figure. */
  readonly id: string;
  readonly title: string;
  /** One or two sentences on what is plotted and how to read it. */
  readonly caption: string;
  /** Absent when the run measured nothing this chart needs. */
  readonly spec?: TopLevelSpec;
}

const BASELINES = BASELINE_NAMES;
// Enough distinct colours for every transport, set-up and floor at once (Tableau 20, reordered).
const PALETTE = [
  '#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac',
  '#1f77b4', '#17becf', '#8c564b', '#bcbd22', '#7f7f7f', '#d62728', '#2ca02c', '#9467bd', '#e377c2', '#ff7f0e',
];
const CANONICAL = [
  ...TRANSPORT_NAMES.flatMap((t) => (t === 'http-json' ? [t, ...HTTP_SETUPS.map((s) => `${t} (${s})`)] : [t])),
  ...BASELINES.flatMap((b) => (b === 'lean-node' ? ['lean-node (framed)', 'lean-node (msgpack)'] : [b])),
];

/** The legend name of a cell's transport: the transport string, with the HTTP set-up or wire when there is one. */
export const seriesLabel = seriesName;

function labelOrder(labels: Iterable<string>): string[] {
  const rank = (l: string): number => (CANONICAL.includes(l) ? CANONICAL.indexOf(l) : CANONICAL.length);
  return [...new Set(labels)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * Colour by transport label. Colours are assigned over the whole run, so `framed` is the same colour
 * in every chart; the legend lists only the labels this chart shows.
 */
function transportColour(result: RunResult, shown: readonly { transport: string }[]) {
  const all = labelOrder(result.cells.map(seriesLabel));
  const domain = labelOrder(shown.map((v) => v.transport));
  const range = domain.map((l) => PALETTE[Math.max(0, all.indexOf(l)) % PALETTE.length] as string);
  return { field: 'transport', type: 'nominal', title: 'transport', scale: { domain, range } } as const;
}

const FAMILY_ORDER = ['unix', 'tcp', 'in-process'];
const DASHES = [[1, 0], [6, 3], [2, 2]];

/** Solid unix, dashed tcp, dotted in-process, in every chart; the legend draws line samples, not dots. */
function familyDash(shown: readonly { family: string }[]) {
  const domain = FAMILY_ORDER.filter((f) => shown.some((v) => v.family === f));
  return {
    field: 'family',
    type: 'nominal',
    title: 'family',
    scale: { domain, range: domain.map((f) => DASHES[FAMILY_ORDER.indexOf(f)] as number[]) },
    legend: { symbolType: 'stroke', symbolStrokeColor: '#333', symbolStrokeWidth: 2, symbolSize: 300 },
  } as const;
}

type Layered = Pick<Extract<TopLevelSpec, { layer: unknown }>, 'encoding' | 'layer'>;
type Position = NonNullable<NonNullable<Layered['encoding']>['x']>;

/**
 * One line per transport x family with a dot at each measurement. The dash (family) sits on the line
 * layer only: with points on the same layer Vega-Lite draws the dash legend invisible.
 */
function seriesLines(result: RunResult, values: readonly { transport: string; family: string }[], x: Position, y: Position): Layered {
  return {
    encoding: { x, y, color: transportColour(result, values), detail: { field: 'family', type: 'nominal' } },
    layer: [{ mark: 'line', encoding: { strokeDash: familyDash(values) } }, { mark: { type: 'point', filled: true } }],
  };
}

const familyFacet = { field: 'family', type: 'nominal', title: 'family', sort: FAMILY_ORDER } as const;
const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
const ok = (result: RunResult, keep: (c: CellResult) => boolean): CellResult[] => result.cells.filter((c) => c.status === 'ok' && keep(c));
/** The fields every chart row carries: colour (transport), dash or facet (family), facet (suite). */
const base = (c: CellResult): { transport: string; family: string; suite: string } => ({ transport: seriesLabel(c), family: c.family, suite: c.suite });
const BYTES_LABEL = "datum.value >= 1048576 ? format(datum.value / 1048576, '~g') + ' MiB' : datum.value >= 1024 ? format(datum.value / 1024, '~g') + ' KiB' : format(datum.value, '~g') + ' B'";

/** One cell per id: with `--trials N` the trial with the median p50 (stacked bars cannot aggregate by median). */
function medianTrial(cells: readonly CellResult[]): CellResult[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) groups.set(c.id, [...(groups.get(c.id) ?? []), c]);
  return [...groups.values()].map((g) => g.sort((a, b) => (a.latency?.p50Us ?? 0) - (b.latency?.p50Us ?? 0))[Math.floor((g.length - 1) / 2)] as CellResult);
}

function absent(id: string, title: string, caption: string): Chart {
  return { id, title, caption };
}

/** p50/p90/p99/p99.9 of echo at 3072 B, one at a time, one panel per family. */
export function latencyPercentilesChart(result: RunResult): Chart {
  const id = 'latency-percentiles';
  const title = 'Echo latency percentiles, 3072 B, single-stream';
  const caption = 'Bars are p50, p90, p99 and p99.9 of one request at a time, per transport; one panel per socket family. Log scale, lower is better; the step from p50 to p99.9 is the tail.';
  const cells = ok(result, (c) => c.suite === 'echo' && c.scenario === 'single-stream' && c.payloadBytes === 3072 && c.latency !== undefined);
  if (cells.length === 0) return absent(id, title, caption);
  const names = ['p50', 'p90', 'p99', 'p99.9'];
  const values = cells.flatMap((c) => {
    const l = c.latency!;
    return [l.p50Us, l.p90Us, l.p99Us, l.p999Us].map((us, i) => ({ ...base(c), percentile: names[i] as string, us }));
  });
  const spec: TopLevelSpec = {
    data: { values },
    facet: { column: familyFacet },
    resolve: { scale: { x: 'independent' } },
    spec: {
      height: 220,
      mark: 'bar',
      encoding: {
        x: { field: 'transport', type: 'nominal', title: null, sort: labelOrder(values.map((v) => v.transport)) },
        xOffset: { field: 'percentile', type: 'nominal', sort: names },
        y: { field: 'us', type: 'quantitative', aggregate: 'median', title: 'latency (µs, log scale)', scale: { type: 'log' } },
        color: { field: 'percentile', type: 'nominal', sort: names, scale: { scheme: 'blues' }, title: 'percentile' },
      },
    },
  };
  return { id, title, caption, spec };
}

/** p50 against payload size, one request at a time. */
export function latencyVsPayloadChart(result: RunResult): Chart {
  const id = 'latency-payload';
  const title = 'Echo p50 latency vs payload size, single-stream';
  const caption = 'Median latency of one request at a time as the payload grows (symmetric-log x so 0 B fits; log y). Colour is the transport, dash the family; the slope at large payloads is the per-byte cost.';
  const cells = ok(result, (c) => c.suite === 'echo' && c.scenario === 'single-stream' && c.payloadBytes !== undefined && c.latency !== undefined);
  if (new Set(cells.map((c) => c.payloadBytes)).size < 2) return absent(id, title, caption);
  const values = cells.map((c) => ({ ...base(c), payloadBytes: c.payloadBytes!, p50Us: c.latency!.p50Us }));
  const ticks = [...new Set(values.map((v) => v.payloadBytes))].sort((a, b) => a - b);
  const spec: TopLevelSpec = {
    data: { values },
    width: 520,
    height: 300,
    ...seriesLines(
      result,
      values,
      { field: 'payloadBytes', type: 'quantitative', title: 'payload', scale: { type: 'symlog' }, axis: { values: ticks, labelExpr: BYTES_LABEL } },
      { field: 'p50Us', type: 'quantitative', aggregate: 'median', title: 'p50 latency (µs)', scale: { type: 'log' } },
    ),
  };
  return { id, title, caption, spec };
}

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
  const cells = sweep.length === 0 ? [] : [...sweep, ...ones];
  if (cells.length === 0) return absent(id, title, caption);
  const values = cells.map((c) => ({ ...base(c), concurrency: c.concurrency, rps: c.throughputRps! }));
  const suites = new Set(values.map((v) => v.suite));
  const unit = {
    width: 360,
    height: 260,
    ...seriesLines(
      result,
      values,
      { field: 'concurrency', type: 'ordinal', title: 'requests in flight', axis: { labelAngle: 0 } },
      { field: 'rps', type: 'quantitative', aggregate: 'median', title: 'throughput (req/s)' },
    ),
  };
  const spec: TopLevelSpec =
    suites.size > 1
      ? { data: { values }, facet: { column: { field: 'suite', type: 'nominal' } }, resolve: { scale: { y: 'independent' } }, spec: unit }
      : { data: { values }, ...unit };
  return { id, title, caption, spec };
}

/** Open-loop offered rate: what was achieved, and the p99 it cost. */
export function serverScenarioChart(result: RunResult): Chart {
  const id = 'server-rate';
  const title = 'Achieved rate and p99 vs offered rate (server scenario)';
  const caption = 'Requests are offered on a fixed schedule. Left: achieved vs offered (the grey dashed line is "kept up"); right: p99 latency. Where achieved falls below offered, or p99 climbs steeply, the transport has saturated.';
  const cells = ok(result, (c) => c.scenario === 'server' && c.targetRps !== undefined);
  if (cells.length === 0) return absent(id, title, caption);
  const values = cells.map((c) => ({
    ...base(c),
    targetRps: c.targetRps!,
    achievedRps: c.metrics['achieved_rps'] ?? c.throughputRps ?? 0,
    ...(c.latency === undefined ? {} : { p99Us: c.latency.p99Us }),
  }));
  const x = { field: 'targetRps', type: 'quantitative', title: 'offered (req/s)' } as const;
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
        ...seriesLines(result, values, x, { field: 'p99Us', type: 'quantitative', aggregate: 'median', title: 'p99 (µs)', scale: { type: 'log' } }),
      },
    ],
  }));
  const spec = { data: { values }, vconcat: rows } as TopLevelSpec;
  return { id, title, caption, spec };
}

/** Where a model request's time goes: the model's own compute, and what the transport adds, with its interval. */
export function overheadBreakdownChart(result: RunResult): Chart {
  const id = 'overhead-breakdown';
  const title = 'Model compute vs transport overhead, one request at a time';
  const caption =
    "Each bar is one request of the model, one at a time: the model's own compute time (measured in the sidecar and sent back with each reply) and what the transport added on top (the client's latency minus that compute time, per request; the black line is its 95% interval over the rounds). The in-process row is the model called directly in Python.";
  // Gemma: the unary cells, beside the in-process sampler (which streams to itself).
  const cells = ok(result, (c) => (c.suite === 'cifar' || c.suite === 'gemma') && c.scenario === 'single-stream' && c.overhead !== undefined && (c.streaming !== true || c.transport === 'in-process'));
  if (cells.length === 0) return absent(id, title, caption);
  const values = medianTrial(cells).flatMap((c) => {
    const o = c.overhead!;
    const row = { ...base(c), model: c.suite === 'gemma' ? `gemma, ${c.samplingSteps ?? 0} steps` : 'cifar, 1 image' };
    return [
      { ...row, part: 'model compute', from: 0, to: o.computeUs, low: Number.NaN, high: Number.NaN },
      { ...row, part: 'transport overhead', from: o.computeUs, to: o.computeUs + o.estimate, low: o.computeUs + o.low, high: o.computeUs + o.high },
    ];
  });
  const y = { field: 'transport', type: 'nominal', title: null, sort: labelOrder(values.map((v) => v.transport)) } as const;
  // One faceted chart per model, stacked: a row facet on top of the family columns mislabelled
  // the columns in Vega-Lite 6 when the panels' scales were independent.
  const models = [...new Set(values.map((v) => v.model))];
  const spec = {
    data: { values },
    vconcat: models.map((model) => ({
      title: model,
      transform: [{ filter: { field: 'model', equal: model } }],
      facet: { column: familyFacet },
      resolve: { scale: { x: 'independent', y: 'independent' } },
      spec: {
      width: 300,
      layer: [
        {
          mark: 'bar',
          encoding: {
            y,
            x: { field: 'from', type: 'quantitative', title: 'latency per request (µs)' },
            x2: { field: 'to' },
            color: { field: 'part', type: 'nominal', title: 'part', scale: { domain: ['model compute', 'transport overhead'], range: ['#54a24b', '#bab0ac'] } },
          },
        },
        { transform: [{ filter: 'isFinite(datum.low)' }], mark: { type: 'rule', color: '#222' }, encoding: { y, x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
      ],
      },
    })),
  } as TopLevelSpec;
  return { id, title, caption, spec };
}

/** Top-1 accuracy on the CIFAR-10 test images, per transport: the numbers must not depend on the wire. */
export function cifarAccuracyChart(result: RunResult): Chart {
  const id = 'cifar-accuracy';
  const title = 'CIFAR-10 accuracy per transport';
  const caption = 'Top-1 accuracy over the test images classified through each transport. Every bar should be the same length: the wire must not change the answers.';
  const cells = ok(result, (c) => c.suite === 'cifar' && finite(c.metrics['accuracy']));
  if (cells.length === 0) return absent(id, title, caption);
  const values = cells.map((c) => ({ ...base(c), accuracy: c.metrics['accuracy'] as number }));
  return { id, title, caption, spec: labelledBars(result, values, { field: 'accuracy', title: 'top-1 accuracy', format: '.2%', domain: [0, 1] }) };
}

/** The confusion matrix carried by the `cifar: confusion` check (rows: true class, columns: predicted). */
export function cifarConfusionChart(result: RunResult): Chart {
  const id = 'cifar-confusion';
  const title = 'CIFAR-10 confusion matrix';
  const caption = 'Rows are the true class, columns the predicted class; the diagonal is correct answers. Off-diagonal hot spots are the classes the model mixes up.';
  const data = confusionData(result);
  if (data === undefined) return absent(id, title, caption);
  const values = data.matrix.flatMap((row, i) => row.map((count, j) => ({ actual: data.labels[i] ?? String(i), predicted: data.labels[j] ?? String(j), count })));
  const x = { field: 'predicted', type: 'nominal', sort: data.labels, title: 'predicted' } as const;
  const y = { field: 'actual', type: 'nominal', sort: data.labels, title: 'true class' } as const;
  const spec: TopLevelSpec = {
    data: { values },
    width: { step: 40 },
    height: { step: 28 },
    layer: [
      { mark: 'rect', encoding: { x, y, color: { field: 'count', type: 'quantitative', title: 'images', scale: { scheme: 'blues' } } } },
      { mark: { type: 'text', fontSize: 10 }, encoding: { x, y, text: { field: 'count', type: 'quantitative' } } },
    ],
  };
  return { id, title, caption, spec };
}

/** `{labels, matrix}` from the `cifar: confusion` check, when it is there and well formed. */
export function confusionData(result: RunResult): { labels: string[]; matrix: number[][] } | undefined {
  const data = result.checks.find((c) => c.name === 'cifar: confusion')?.data as { labels?: unknown; matrix?: unknown } | undefined;
  if (data === undefined || !Array.isArray(data.labels) || !Array.isArray(data.matrix)) return undefined;
  const matrix = data.matrix.filter((row): row is number[] => Array.isArray(row) && row.every((v) => typeof v === 'number'));
  if (matrix.length === 0) return undefined;
  return { labels: data.labels.map(String), matrix };
}

/** Offline (batched) classification throughput. */
export function cifarOfflineChart(result: RunResult): Chart {
  const id = 'cifar-offline';
  const title = 'CIFAR offline: images/s vs batch size';
  const caption = 'Images classified per second when the whole set is sent in batches. Larger batches amortise the per-request cost; the transports should converge as the batch grows.';
  const cells = ok(result, (c) => c.suite === 'cifar' && c.scenario === 'offline' && c.batch !== undefined && finite(c.metrics['images_per_s']));
  if (cells.length === 0) return absent(id, title, caption);
  const values = cells.map((c) => ({ ...base(c), batch: c.batch!, imagesPerS: c.metrics['images_per_s'] as number }));
  const ticks = [...new Set(values.map((v) => v.batch))].sort((a, b) => a - b);
  const spec: TopLevelSpec = {
    data: { values },
    width: 480,
    height: 280,
    ...seriesLines(
      result,
      values,
      { field: 'batch', type: 'quantitative', title: 'batch size (images per request)', scale: { type: 'log', base: 2 }, axis: { values: ticks } },
      { field: 'imagesPerS', type: 'quantitative', aggregate: 'median', title: 'images/s' },
    ),
  };
  return { id, title, caption, spec };
}

const GEMMA_METRICS = [
  ['ttft_p50_us', 'time to first token, p50 (µs)'],
  ['itl_p50_us', 'inter-token latency, p50 (µs)'],
  ['tokens_per_s', 'tokens/s'],
] as const;

/** Generation: TTFT, inter-token latency and tokens/s per transport and generation length. */
export function gemmaChart(result: RunResult): Chart {
  const id = 'gemma-generation';
  const title = 'Gemma generation: TTFT, inter-token latency, tokens/s';
  const caption = 'Single-stream generation: one row per measure, one group of bars per generation length (sampling steps). Streaming cells are shown when the run has them (TTFT and inter-token gaps are only observable there). Lower is better for the latencies, higher for tokens/s.';
  const all = ok(result, (c) => c.suite === 'gemma' && c.scenario === 'single-stream' && GEMMA_METRICS.some(([m]) => finite(c.metrics[m])));
  const cells = all.some((c) => c.streaming === true) ? all.filter((c) => c.streaming === true) : all;
  if (cells.length === 0) return absent(id, title, caption);
  const values = cells.flatMap((c) =>
    GEMMA_METRICS.flatMap(([m, label]) => (finite(c.metrics[m]) ? [{ ...base(c), steps: c.samplingSteps ?? 0, metric: label, value: c.metrics[m] as number }] : [])),
  );
  const spec: TopLevelSpec = {
    data: { values },
    facet: {
      row: { field: 'metric', type: 'nominal', title: null, sort: GEMMA_METRICS.map(([, l]) => l) },
      column: familyFacet,
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 300,
      height: 160,
      mark: 'bar',
      encoding: {
        x: { field: 'steps', type: 'ordinal', title: 'sampling steps', axis: { labelAngle: 0 } },
        xOffset: { field: 'transport', type: 'nominal', sort: labelOrder(values.map((v) => v.transport)) },
        y: { field: 'value', type: 'quantitative', aggregate: 'median', title: null },
        color: transportColour(result, values),
      },
    },
  };
  return { id, title, caption, spec };
}

/** The payload the floors chart shows: 3072 B when measured, else the smallest one. */
function floorsPayload(cells: readonly CellResult[]): number | undefined {
  const payloads = [...new Set(cells.map((c) => c.payloadBytes ?? 0))].sort((a, b) => a - b);
  return payloads.includes(3072) ? 3072 : payloads[0];
}

/** Each echo cell over its floor, one request at a time, round by round, with its 95% interval. */
export function calibrationChart(result: RunResult): Chart {
  const id = 'calibration';
  const title = 'Echo over its floor, one request at a time';
  const caption =
    "Each dot is a cell's p50 over its floor's, taken round by round in the same moments (the black line is its 95% interval): transports and lean-node over native-peer (our framed client against a C echo server), native-peer and native-client over native-pair (C at both ends). The dashed line at 1.0 is the floor itself; no interval should lie left of it.";
  const cells = ok(result, (c) => c.suite === 'echo' && c.scenario === 'single-stream' && c.floor !== undefined);
  const payload = floorsPayload(cells);
  const values = medianTrial(cells.filter((c) => (c.payloadBytes ?? 0) === payload)).map((c) => ({ ...base(c), ratio: c.floor!.estimate, low: c.floor!.low, high: c.floor!.high, floor: c.floor!.floor }));
  if (values.length === 0) return absent(id, title, caption);
  const y = { field: 'transport', type: 'nominal', title: null, sort: labelOrder(values.map((v) => v.transport)) } as const;
  const x = { field: 'ratio', type: 'quantitative', title: `p50 / floor p50 (${payload} B)`, scale: { type: 'log' } } as const;
  const spec: TopLevelSpec = {
    data: { values },
    facet: { row: familyFacet },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 420,
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

/** One labelled horizontal bar per transport (the median of `field`), a row per socket family. */
function labelledBars(result: RunResult, values: readonly (ReturnType<typeof base> & Record<string, unknown>)[], x: { field: string; title: string; format: string; domain?: number[] }): TopLevelSpec {
  const y = { field: 'transport', type: 'nominal', title: null, sort: labelOrder(values.map((v) => v.transport)) } as const;
  const xEncoding = { field: x.field, type: 'quantitative', aggregate: 'median', title: x.title, ...(x.domain === undefined ? {} : { scale: { domain: x.domain } }) } as const;
  return {
    data: { values: [...values] },
    facet: { row: familyFacet },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 420,
      layer: [
        { mark: 'bar', encoding: { y, x: xEncoding, color: transportColour(result, values) } },
        { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { y, x: xEncoding, text: { field: x.field, aggregate: 'median', type: 'quantitative', format: x.format } } },
      ],
    },
  };
}

/** Every chart, in report order. */
export function allCharts(result: RunResult): Chart[] {
  return [
    latencyPercentilesChart,
    latencyVsPayloadChart,
    calibrationChart,
    throughputVsConcurrencyChart,
    serverScenarioChart,
    overheadBreakdownChart,
    cifarAccuracyChart,
    cifarConfusionChart,
    cifarOfflineChart,
    gemmaChart,
  ].map((chart) => chart(result));
}
