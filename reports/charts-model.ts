/** Model charts: compute vs transport overhead, accuracy, the confusion matrix, offline batches, generation. */
import type { TopLevelSpec } from 'vega-lite';
import type { CellResult, RunResult } from '../harness/results.js';
import { type Chart, labelOrder, transportColour, seriesLines, familyFacet, finite, ok, base, TIME_LABEL, medianTrial, absent, labelledBars } from './chart-parts.js';
import { formatBytes } from './units.js';

/** Where a model request's time goes: the model's own compute, and what the transport adds, with its interval. */
export function overheadBreakdownChart(result: RunResult): Chart {
  const id = 'overhead-breakdown';
  const title = 'Model compute vs transport overhead, one request at a time';
  const caption =
    "Each bar is one request of the model, one at a time: the model's own compute time in grey (measured in the sidecar and sent back with each reply) and, in the transport's colour, what the transport added on top (the client's latency minus that compute time, per request; the black line is its 95% interval over the rounds). The in-process row is the model called directly in Python.";
  // Gemma: the unary cells, beside the in-process sampler (which streams to itself).
  // Any model suite (cifar, gemma, a user's `model`); streamed cells only for the in-process sampler, which streams to itself.
  const cells = ok(result, (c) => c.scenario === 'single-stream' && c.overhead !== undefined && (c.streaming !== true || c.transport === 'in-process'));
  if (cells.length === 0) return absent(id, title, caption);
  const modelName = (c: CellResult): string => [c.suite, c.samplingSteps === undefined ? undefined : `${c.samplingSteps} steps`, c.batch === undefined ? undefined : `batch ${c.batch}`, c.payloadBytes === undefined ? undefined : formatBytes(c.payloadBytes)].filter((x) => x !== undefined).join(', ');
  const values = medianTrial(cells).flatMap((c) => {
    const o = c.overhead!;
    const row = { ...base(c), model: modelName(c) };
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
        // Colour is the transport: the model's compute is plain grey, the transport's part in its colour.
        {
          transform: [{ filter: { field: 'part', equal: 'model compute' } }],
          mark: { type: 'bar', color: '#d3d3d3' },
          encoding: { y, x: { field: 'from', type: 'quantitative', title: 'latency per request (grey: model compute)', axis: { labelExpr: TIME_LABEL, labelAngle: 0, tickCount: 5 } }, x2: { field: 'to' } },
        },
        {
          transform: [{ filter: { field: 'part', equal: 'transport overhead' } }],
          mark: 'bar',
          encoding: { y, x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' }, color: transportColour(result, values) },
        },
        { transform: [{ filter: 'isFinite(datum.low)' }], mark: { type: 'rule', color: '#222' }, encoding: { y, x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } } },
      ],
      },
    })),
  } as TopLevelSpec;
  return { id, title, caption, spec };
}

/** Accuracy per transport (CIFAR-10 top-1, or any suite that reports `accuracy`): the numbers must not depend on the wire. */
export function cifarAccuracyChart(result: RunResult): Chart {
  const id = 'cifar-accuracy';
  const title = 'Accuracy per transport';
  const caption = 'Accuracy of the answers that came back through each transport (CIFAR-10: top-1 over the test images). Every bar should be the same length: the wire must not change the answers.';
  const cells = ok(result, (c) => finite(c.metrics['accuracy']));
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
  // Wide enough columns for the class names to read horizontally.
  const x = { field: 'predicted', type: 'nominal', sort: data.labels, title: 'predicted', axis: { labelAngle: 0, labelFontSize: 9 } } as const;
  const y = { field: 'actual', type: 'nominal', sort: data.labels, title: 'true class' } as const;
  const spec: TopLevelSpec = {
    data: { values },
    width: { step: 58 },
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
  const batches = new Set(cells.map((c) => c.batch)).size;
  if (batches < 2) return absent(id, title, caption, batches === 0 ? 'not measured in this run' : 'the run measured one batch size, and a line needs two (`--batch-sizes 16,64,256`)');
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

/** The measure, its row label, and the factor to its unit (µs to ms: generation times are milliseconds). */
const GEMMA_METRICS = [
  ['ttft_p50_us', 'time to first token, p50 (ms)', 1e-3],
  ['itl_p50_us', 'inter-token latency, p50 (ms)', 1e-3],
  ['tokens_per_s', 'tokens/s', 1],
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
    GEMMA_METRICS.flatMap(([m, label, factor]) => (finite(c.metrics[m]) ? [{ ...base(c), steps: c.samplingSteps ?? 0, metric: label, value: (c.metrics[m] as number) * factor }] : [])),
  );
  const spec: TopLevelSpec = {
    data: { values },
    facet: {
      row: { field: 'metric', type: 'nominal', title: null, sort: GEMMA_METRICS.map(([, l]) => l), header: { labelAngle: 0, labelAlign: 'left', labelLimit: 260, labelFontWeight: 'bold' } },
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

