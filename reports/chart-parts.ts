/**
 * The pieces every chart shares: the Chart shape, series labels, the transport colour scale (the
 * same colour for a transport in every chart), family dashes and facets, human time axes.
 * Colour always means transport, named as everywhere else (`http-json (sync)` for an HTTP
 * set-up); line dash or facet means family.
 */
import type { TopLevelSpec } from 'vega-lite';
import { BASELINE_NAMES, seriesName, type CellResult, type RunResult } from '../harness/results.js';
import { GRPC_CLIENTS, GRPC_SERVERS, HTTP_CLIENTS, HTTP_SETUPS, HTTP_STACKS, TRANSPORT_NAMES } from '../transports/types.js';

export interface Chart {
  /** Stable id: the `data-chart` attribute of the chart's figure. */
  readonly id: string;
  readonly title: string;
  /** One or two sentences on what is plotted and how to read it. */
  readonly caption: string;
  /** Absent when the run measured nothing this chart needs, or too little to draw (one point). */
  readonly spec?: TopLevelSpec;
  /** Why the chart is left out, when it is: `the run measured one payload size`. */
  readonly absentReason?: string;
}

const BASELINES = BASELINE_NAMES;
// Enough distinct colours for every transport, set-up and floor at once (Tableau 20, reordered).
const PALETTE = [
  '#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac',
  '#1f77b4', '#17becf', '#8c564b', '#bcbd22', '#7f7f7f', '#d62728', '#2ca02c', '#9467bd', '#e377c2', '#ff7f0e',
];
const CANONICAL = [
  ...TRANSPORT_NAMES.flatMap((t) => {
    if (t === 'http-json') return [t, ...HTTP_SETUPS.map((s) => `${t} (${s})`), ...HTTP_STACKS.flatMap((s) => HTTP_CLIENTS.map((c) => `${t} (${s}, ${c})`))];
    if (t === 'grpc') return [t, ...GRPC_SERVERS.flatMap((s) => GRPC_CLIENTS.map((c) => `${t} (${s}, ${c})`))];
    return [t];
  }),
  ...BASELINES.flatMap((b) => (b === 'lean-node' ? ['lean-node (framed)', 'lean-node (msgpack)'] : [b])),
];

/** The legend name of a cell's transport: the transport string, with the HTTP set-up or wire when there is one. */
export const seriesLabel = seriesName;

export function labelOrder(labels: Iterable<string>): string[] {
  const rank = (l: string): number => (CANONICAL.includes(l) ? CANONICAL.indexOf(l) : CANONICAL.length);
  return [...new Set(labels)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/**
 * Colour by transport label. Colours are assigned over the whole run, so `framed` is the same colour
 * in every chart; the legend lists only the labels this chart shows.
 */
export function transportColour(result: RunResult, shown: readonly { transport: string }[]) {
  const all = labelOrder(result.cells.map(seriesLabel));
  const domain = labelOrder(shown.map((v) => v.transport));
  const range = domain.map((l) => PALETTE[Math.max(0, all.indexOf(l)) % PALETTE.length] as string);
  return { field: 'transport', type: 'nominal', title: 'transport', scale: { domain, range } } as const;
}

export const FAMILY_ORDER = ['unix', 'tcp', 'in-process'];
const DASHES = [[1, 0], [6, 3], [2, 2]];

/** Solid unix, dashed tcp, dotted in-process, in every chart; the legend draws line samples, not dots. */
export function familyDash(shown: readonly { family: string }[]) {
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
export type Position = NonNullable<NonNullable<Layered['encoding']>['x']>;

/**
 * One line per transport x family with a dot at each measurement. The dash (family) sits on the line
 * layer only: with points on the same layer Vega-Lite draws the dash legend invisible.
 */
export function seriesLines(result: RunResult, values: readonly { transport: string; family: string }[], x: Position, y: Position): Layered {
  return {
    encoding: { x, y, color: transportColour(result, values), detail: { field: 'family', type: 'nominal' } },
    layer: [{ mark: 'line', encoding: { strokeDash: familyDash(values) } }, { mark: { type: 'point', filled: true } }],
  };
}

export const familyFacet = { field: 'family', type: 'nominal', title: 'family', sort: FAMILY_ORDER } as const;
/** Families as rows: labels read horizontally, never rotated. */
export const familyRow = { ...familyFacet, title: null, header: { labelAngle: 0, labelAlign: 'left', labelFontWeight: 'bold' } } as const;
export const finite = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
export const ok = (result: RunResult, keep: (c: CellResult) => boolean): CellResult[] => result.cells.filter((c) => c.status === 'ok' && keep(c));
/** The fields every chart row carries: colour (transport), dash or facet (family), facet (suite). */
export const base = (c: CellResult): { transport: string; family: string; suite: string } => ({ transport: seriesLabel(c), family: c.family, suite: c.suite });
export const BYTES_LABEL = "datum.value >= 1048576 ? format(datum.value / 1048576, '~g') + ' MiB' : datum.value >= 1024 ? format(datum.value / 1024, '~g') + ' KiB' : format(datum.value, '~g') + ' B'";

/** Axis labels for µs values in human units: 500 µs, 2 ms, 1.5 s. */
export const TIME_LABEL = "datum.value >= 1e6 ? format(datum.value / 1e6, '~g') + ' s' : datum.value >= 1000 ? format(datum.value / 1000, '~g') + ' ms' : format(datum.value, '~g') + ' µs'";

/**
 * Tick values for a log axis: 1-2-5 steps inside the data's range (only powers of ten when that
 * would crowd the axis), so a log axis never shows unlabelled or odd ticks.
 */
export function logTicks(min: number, max: number): number[] {
  if (!(min > 0) || !(max > 0)) return [];
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(min)) - 1; e <= Math.ceil(Math.log10(max)); e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
  const inside = out.map((v) => Number(v.toPrecision(1))).filter((v) => v >= min && v <= max);
  const decades = inside.filter((v) => /^1(0*)$/.test(String(v)) || v < 1);
  return inside.length > 7 && decades.length >= 2 ? decades : inside;
}

/** A log time axis over `values` (µs) with 1-2-5 ticks in human units. */
export function timeAxis(values: readonly number[], title: string) {
  const finiteValues = values.filter((v) => Number.isFinite(v) && v > 0);
  const [min, max] = [Math.min(...finiteValues) / 1.15, Math.max(...finiteValues) * 1.15];
  // No rounding of the domain out to whole decades: that left most of a panel empty.
  return { title, scale: { type: 'log' as const, nice: false, domain: [min, max] }, axis: { values: logTicks(min, max), labelExpr: TIME_LABEL, labelAngle: 0 } };
}

/** One cell per id: with `--trials N` the trial with the median p50 (stacked bars cannot aggregate by median). */
export function medianTrial(cells: readonly CellResult[]): CellResult[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) groups.set(c.id, [...(groups.get(c.id) ?? []), c]);
  return [...groups.values()].map((g) => g.sort((a, b) => (a.latency?.p50Us ?? 0) - (b.latency?.p50Us ?? 0))[Math.floor((g.length - 1) / 2)] as CellResult);
}

export function absent(id: string, title: string, caption: string, absentReason = 'not measured in this run'): Chart {
  return { id, title, caption, absentReason };
}


/** One labelled horizontal bar per transport (the median of `field`), a row per socket family. */
export function labelledBars(result: RunResult, values: readonly (ReturnType<typeof base> & Record<string, unknown>)[], x: { field: string; title: string; format: string; domain?: number[] }): TopLevelSpec {
  const y = { field: 'transport', type: 'nominal', title: null, sort: labelOrder(values.map((v) => v.transport)) } as const;
  const xEncoding = { field: x.field, type: 'quantitative', aggregate: 'median', title: x.title, ...(x.domain === undefined ? {} : { scale: { domain: x.domain } }) } as const;
  return {
    data: { values: [...values] },
    facet: { row: familyRow },
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

