/**
 * Synthetic results for the report tests: the shape of a real `run --quick` (interleaved groups
 * with rounds, floors and their ratios, overheads on the model, every suite and scenario) with
 * invented but plausible numbers. Floors and overheads go through the same functions a run uses.
 */
import { cellId, seriesName, type CellKey, type CellResult, type RoundStat, type RunCheck, type RunResult } from '../harness/results.js';
import type { ResolvedConfig } from '../harness/config.js';
import { mulberry32 } from '../datasets/random.js';
import { compareToFloor, figureInterval, judgeStability } from '../harness/stats/round-figures.js';

const ROUNDS = 12;
/** How fast the machine was in each round: it drifts, the ratios should not. */
const DRIFT = [1, 1.6, 1.1, 2.2, 1.3, 1, 1.8, 1.2, 2.5, 1.4, 1.1, 1.9];

function rounds(p50Us: number, seed: number, computeUs?: number): RoundStat[] {
  const random = mulberry32(seed);
  return DRIFT.slice(0, ROUNDS).map((d, round) => {
    const p50 = p50Us * d * (1 + (random() - 0.5) * 0.04);
    const compute = computeUs === undefined ? {} : { computeP50Us: computeUs * d, overheadP50Us: p50 - computeUs * d };
    return { round, position: round % 5, requests: 200, errors: 0, durationMs: 5, p50Us: p50, figureUs: p50, ...compute };
  });
}

/** A measured cell; `group` and `floor` make it part of an interleaved group read against that floor. */
export function cell(key: CellKey, p50Us: number, extra: Partial<CellResult> = {}): CellResult {
  const random = mulberry32(Math.round(p50Us * 1000));
  return {
    ...key,
    id: cellId(key),
    status: 'ok',
    requests: 20_000,
    errors: 0,
    errorsByCode: {},
    latency: { count: 20_000, minUs: p50Us * 0.7, p50Us, p90Us: p50Us * 1.3, p99Us: p50Us * 3, p999Us: p50Us * 9, maxUs: p50Us * 40, meanUs: p50Us * 1.1, stddevUs: p50Us * 0.3 },
    ci95: { p50Us: [p50Us * 0.98, p50Us * 1.02], meanUs: [p50Us * 1.07, p50Us * 1.13] },
    throughputRps: (1e6 / p50Us) * key.concurrency * 0.8,
    durationMs: 1000,
    stable: true,
    samplesUs: Array.from({ length: 200 }, () => p50Us * Math.exp((random() - 0.5) * 0.4)),
    metrics: {},
    ...extra,
  };
}

/** Cells of one interleaved group: `[key, p50]` pairs, the first named `floorOf` for each. */
export function group(label: string, members: readonly { key: CellKey; p50Us: number; floor?: CellKey; computeUs?: number; metrics?: Record<string, number> }[]): CellResult[] {
  const byId = new Map(members.map((m, i) => [cellId(m.key), { ...m, rounds: rounds(m.p50Us, i + 1, m.computeUs) }]));
  return [...byId.values()].map((m) => {
    const floorMember = m.floor === undefined ? undefined : byId.get(cellId(m.floor));
    const floor = floorMember === undefined || m.floor === undefined ? undefined : compareToFloor(m.rounds, floorMember.rounds, { floorId: cellId(m.floor), floor: seriesName(m.floor), figure: 'p50', strict: true });
    const stability = judgeStability(m.rounds, 0, floor ?? figureInterval(m.rounds), 10);
    const overhead =
      m.computeUs === undefined ? {} : { overhead: { estimate: m.p50Us - m.computeUs, low: (m.p50Us - m.computeUs) * 0.9, high: (m.p50Us - m.computeUs) * 1.1, rounds: ROUNDS, computeUs: m.computeUs, pct: ((m.p50Us - m.computeUs) / m.computeUs) * 100, source: 'reply' as const } };
    return cell(m.key, m.p50Us, { group: label, figure: 'p50', rounds: m.rounds, ...(floor === undefined ? {} : { floor }), ...overhead, stable: stability.stable, ...(stability.reason === undefined ? {} : { unstableReason: stability.reason }), metrics: m.metrics ?? {} });
  });
}

const FAMILY_COST = { unix: 1, tcp: 1.4 } as const;

/** The echo suite: one group per family and payload one at a time (the 2x2 floor and every transport), and the concurrency sweep. */
export function echoCells(payloads: readonly number[] = [64, 3072, 1_048_576]): CellResult[] {
  const cells: CellResult[] = [];
  for (const family of ['unix', 'tcp'] as const) {
    for (const payloadBytes of payloads) {
      const f = FAMILY_COST[family];
      const key = (transport: CellKey['transport'], extra: Partial<CellKey> = {}): CellKey => ({ suite: 'echo', scenario: 'single-stream', transport, family, payloadBytes, concurrency: 1, ...extra });
      const at = (us: number): number => us * f + payloadBytes / 1500;
      const pair = key('native-pair');
      const peer = key('native-peer');
      cells.push(
        ...group(`echo single-stream ${payloadBytes} B ${family}`, [
          { key: pair, p50Us: at(14) },
          { key: peer, p50Us: at(21), floor: pair },
          { key: key('native-client'), p50Us: at(15.5), floor: pair },
          { key: key('lean-node', { wire: 'framed' }), p50Us: at(23), floor: peer },
          { key: key('lean-node', { wire: 'msgpack' }), p50Us: at(24.5), floor: peer },
          ...(family === 'unix' ? [{ key: { ...key('no-op'), family: 'in-process' as const }, p50Us: 0.1 }] : []),
          { key: key('framed'), p50Us: at(24.7), floor: peer },
          { key: key('msgpack'), p50Us: at(26.1), floor: peer },
          { key: key('http-json', { httpSetup: 'sync' }), p50Us: at(690), floor: peer },
          { key: key('http-json', { httpSetup: 'gthread' }), p50Us: at(470), floor: peer },
          { key: key('grpc'), p50Us: at(550), floor: peer },
        ]),
      );
    }
    for (const concurrency of [4, 16]) {
      const key = (transport: CellKey['transport']): CellKey => ({ suite: 'echo', scenario: 'concurrency', transport, family, payloadBytes: 3072, concurrency });
      const peer = key('native-peer');
      cells.push(...group(`echo concurrency c=${concurrency} ${family}`, [{ key: peer, p50Us: 20 * concurrency }, { key: key('framed'), p50Us: 23 * concurrency, floor: peer }, { key: key('grpc'), p50Us: 400 * concurrency, floor: peer }]));
    }
  }
  return cells;
}

export function failed(key: CellKey, code: 'SIDECAR_START_FAILED' | 'TIMEOUT', message: string): CellResult {
  return { ...key, id: cellId(key), status: 'failed', error: { code, message }, requests: 0, errors: 0, errorsByCode: {}, durationMs: 0, metrics: {} };
}

/** The cifar suite: one request at a time against the in-process model, and offline batches. */
export function cifarCells(): CellResult[] {
  const key = (transport: CellKey['transport'], family: CellKey['family'], scenario: CellKey['scenario'] = 'single-stream', batch = 1): CellKey => ({ suite: 'cifar', scenario, transport, family, batch, concurrency: 1 });
  const model = key('in-process', 'in-process');
  const compute = 1800;
  const cells = group('cifar single-stream c=1', [
    { key: model, p50Us: compute + 38, computeUs: compute, metrics: { images_per_s: 540 } },
    ...(['unix', 'tcp'] as const).flatMap((family) =>
      [['framed', 190], ['msgpack', 200], ['grpc', 870]].map(([t, extra]) => ({ key: key(t as CellKey['transport'], family), p50Us: compute + (extra as number) * FAMILY_COST[family], floor: model, computeUs: compute, metrics: { accuracy: 0.7233, images_per_s: 480 } })),
    ),
  ]);
  for (const batch of [64, 256]) {
    const batchModel = key('in-process', 'in-process', 'offline', batch);
    cells.push(
      ...group(`cifar offline batch ${batch}`, [
        { key: batchModel, p50Us: batch * 290, metrics: { images_per_s: 1e6 / 290 } },
        ...(['framed', 'grpc'] as const).map((t, i) => ({ key: key(t, 'unix', 'offline', batch), p50Us: batch * 290 + 900 * (i + 1), floor: batchModel, metrics: { images_per_s: 1e6 / (290 + (900 * (i + 1)) / batch) } })),
      ]),
    );
  }
  return cells;
}

export function confusionCheck(): RunCheck {
  const labels = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
  const matrix = labels.map((_, i) => labels.map((__, j) => (i === j ? 80 : (i * 7 + j * 3) % 5)));
  return { name: 'cifar: confusion', ok: true, detail: 'rows: true class, columns: predicted class', data: { labels, matrix } };
}

/** The gemma suite: streamed and unary generation against the in-process model. */
export function gemmaCells(): CellResult[] {
  const model: CellKey = { suite: 'gemma', scenario: 'single-stream', transport: 'in-process', family: 'in-process', samplingSteps: 16, streaming: true, concurrency: 1 };
  const members: { key: CellKey; p50Us: number; computeUs: number; metrics: Record<string, number> }[] = [{ key: model, p50Us: 180_000, computeUs: 179_300, metrics: { ttft_p50_us: 38_000, itl_p50_us: 9000, tokens_per_s: 110 } }];
  for (const [transport, family, ttft] of [['framed', 'unix', 40_000], ['grpc', 'unix', 43_000], ['http-json', 'tcp', 52_000]] as const) {
    for (const streaming of [false, true]) {
      const httpSetup = transport === 'http-json' ? { httpSetup: 'gthread' as const } : {};
      const key: CellKey = { suite: 'gemma', scenario: 'single-stream', transport, family, ...httpSetup, samplingSteps: 16, streaming, concurrency: 1 };
      members.push({ key, p50Us: 180_000 + ttft / 20, computeUs: 179_300, metrics: { ttft_p50_us: ttft, ttft_p99_us: ttft * 1.5, itl_p50_us: 9000, itl_p99_us: 14_000, tokens_per_s: 1e6 / 9000 } });
    }
  }
  return group('gemma single-stream steps=16 c=1', members.map((m) => (m.key === model ? m : { ...m, floor: model })));
}

/** Open-loop cells at three offered rates. */
export function serverCells(): CellResult[] {
  return [500, 2000, 8000].flatMap((targetRps) =>
    (['framed', 'msgpack'] as const).map((transport) =>
      cell({ suite: 'echo', scenario: 'server', transport, family: 'unix', payloadBytes: 3072, concurrency: 16, targetRps }, 30 * (targetRps > 4000 ? 20 : 1), {
        metrics: { achieved_rps: Math.min(targetRps, transport === 'framed' ? 7000 : 5000), dropped: 0 },
      }),
    ),
  );
}

/**
 * A suite the reports have never heard of (`model`, a user's own model, as issue 14 adds it): the
 * model in-process and over every wire in one group, with a metric of its own. Nothing in
 * reports/ names it; the answer, the CSV and the report must pick it up from the cells alone.
 */
export function modelCells(suite = 'model'): CellResult[] {
  const key = (transport: CellKey['transport'], family: CellKey['family']): CellKey => ({ suite: suite as CellKey['suite'], scenario: 'single-stream', transport, family, batch: 1, concurrency: 1 });
  const model = key('in-process', 'in-process');
  const compute = 420;
  return group(`${suite} single-stream c=1`, [
    { key: model, p50Us: compute + 12, computeUs: compute, metrics: { embeddings_per_s: 2300 } },
    ...(['unix', 'tcp'] as const).flatMap((family) =>
      [['framed', 60], ['msgpack', 61], ['grpc', 520], ['http-json', 700]].map(([t, extra]) => ({
        key: { ...key(t as CellKey['transport'], family), ...(t === 'http-json' ? { httpSetup: 'gthread' as const } : {}) },
        p50Us: compute + (extra as number) * FAMILY_COST[family],
        floor: model,
        computeUs: compute,
        metrics: { embeddings_per_s: 1e6 / (compute + (extra as number)), max_abs_diff: 0 },
      })),
    ),
  ]);
}

const CONFIG: ResolvedConfig = {
  suites: ['echo'], transports: ['framed'], families: ['unix', 'tcp'], httpStacks: ['gunicorn-sync', 'gunicorn-gthread'], httpClients: ['undici'], grpcServers: ['thread'], grpcClients: ['grpc-js'], scenarios: ['single-stream', 'concurrency'],
  payloadBytes: [64, 3072, 1_048_576], concurrency: [4, 16], ratesRps: [500], batchSizes: [64], samplingSteps: [8],
  warmupRequests: 20, warmupMs: 20, blockMs: 5, minRounds: 8, maxRounds: 100, maxGroupMs: 5000, stabilityPct: 10, seed: 1, cpuPinning: 'shared', trials: 1, dtype: 'auto',
  timeoutMs: 30_000, readyTimeoutMs: 120_000, device: 'auto', sidecarArgs: [], calibration: true, quick: true, data: undefined, connect: undefined, out: undefined, limit: 300,
};

export function run(cells: CellResult[], checks: RunCheck[] = []): RunResult {
  return {
    schemaVersion: 2,
    harnessVersion: '0.1.0',
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:03:00.000Z',
    argv: ['run', '--quick'],
    config: CONFIG,
    environment: {
      cpuModel: 'AMD EPYC (synthetic fixture)', cores: 2, memoryBytes: 25_276_502_016, os: 'Linux 6.1', arch: 'x64', node: 'v20.20.2', python: '3.11.2', torch: '1.13.0a0',
      cudaAvailable: false, gpu: null, gitCommit: '579b9ac82b57d3a5e50bd6f33c1117e8b4665339', gitDirty: false, harnessVersion: '0.1.0', hostname: 'vm', cpuPinning: 'echo groups shared: harness on core 0',
    },
    cells,
    checks,
    status: cells.some((c) => c.status === 'failed') ? 'partial' : 'ok',
  };
}

export const echoRun = (): RunResult => run(echoCells());
export const fullRun = (): RunResult =>
  run([...echoCells(), ...serverCells(), ...cifarCells(), ...gemmaCells()], [{ name: 'cifar: agreement', ok: true, detail: 'all transports agree on 300 images' }, confusionCheck()]);
