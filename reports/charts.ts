/**
 * The report's charts as Vega-Lite specs built from plain results, one function per chart, in
 * three files by what they show (latency, load, model) over the shared pieces in chart-parts.ts.
 * A chart with nothing to draw (not measured, or one point where a line needs two) comes back
 * without a spec and with the reason, and the report says so instead of drawing it empty.
 */
import type { RunResult } from '../harness/results.js';
import type { Chart } from './chart-parts.js';
import { calibrationChart, latencyCdfChart, latencyPercentilesChart, latencyVsPayloadChart } from './charts-latency.js';
import { serverScenarioChart, throughputVsConcurrencyChart } from './charts-load.js';
import { cifarAccuracyChart, cifarConfusionChart, cifarOfflineChart, gemmaChart, overheadBreakdownChart } from './charts-model.js';

export { seriesLabel, type Chart } from './chart-parts.js';

/** Every chart, in report order. */
export function allCharts(result: RunResult): Chart[] {
  return [
    latencyCdfChart,
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

