/** The CIFAR in-process baseline: cells for the model called directly, plus what the suite compares against. */
import type { ResolvedConfig } from '../config.js';
import { HarnessError } from '../errors.js';
import { newOutcome } from '../load/outcome.js';
import type { CellKey } from '../results.js';
import { median } from '../stats/bootstrap.js';
import { cellFromOutcome } from './cell.js';
import type { SuiteContext } from './context.js';
import { runInProcess } from './inprocess.js';

interface InProcessJson {
  readonly info: Record<string, unknown>;
  readonly single: { samples_ns: number[]; compute_samples_ns: number[]; labels: number[] };
  readonly offline: { batch: number; images: number; elapsed_ns: number; images_per_s: number; batch_samples_ns: number[] }[];
}

export interface CifarBaseline {
  readonly labels: Uint8Array;
  readonly singleP50Us: number;
  readonly computeP50Us: number;
  readonly imagesPerSByBatch: ReadonlyMap<number, number>;
}

function modelArgs(config: ResolvedConfig): string[] {
  return ['--device', config.device];
}

export async function measureCifarBaseline(ctx: SuiteContext, images: Uint8Array): Promise<CifarBaseline> {
  const count = images.length / 3072;
  const batches = ctx.config.scenarios.includes('offline') ? ctx.config.batchSizes : [];
  ctx.progress.start(`cifar in-process baseline (${count} images, batches ${batches.join(',') || 'none'})`);
  const raw = (await runInProcess(
    ['--model', 'cifar', '--images', '{input}', ...(batches.length > 0 ? ['--batch-sizes', batches.join(',')] : []), ...modelArgs(ctx.config)],
    { name: 'images.bin', bytes: images },
    30 * 60_000,
  )) as InProcessJson;
  if (raw.single.labels.length !== count) throw new HarnessError('PROTOCOL_ERROR', `Expected ${count} in-process labels, got ${raw.single.labels.length}`);

  const single = newOutcome();
  for (const ns of raw.single.samples_ns) single.recorder.record(ns);
  single.requests = raw.single.samples_ns.length;
  single.durationNs = raw.single.samples_ns.reduce((a, b) => a + b, 0);
  const computeP50Us = median(raw.single.compute_samples_ns) / 1000;
  const base: Omit<CellKey, 'scenario' | 'concurrency'> = { suite: 'cifar', transport: 'in-process', family: 'in-process' };
  ctx.emit(cellFromOutcome({ ...base, scenario: 'single-stream', concurrency: 1, batch: 1 }, single, { metrics: { compute_us: computeP50Us, images_per_s: (single.requests * 1e9) / single.durationNs }, sidecar: raw.info }));

  const imagesPerSByBatch = new Map<number, number>();
  for (const run of raw.offline) {
    const outcome = newOutcome();
    for (const ns of run.batch_samples_ns) outcome.recorder.record(ns);
    outcome.requests = run.batch_samples_ns.length;
    outcome.durationNs = run.elapsed_ns;
    imagesPerSByBatch.set(run.batch, run.images_per_s);
    ctx.emit(cellFromOutcome({ ...base, scenario: 'offline', concurrency: 1, batch: run.batch }, outcome, { metrics: { images_per_s: run.images_per_s }, sidecar: raw.info }));
  }
  return { labels: Uint8Array.from(raw.single.labels), singleP50Us: single.recorder.percentileUs(50), computeP50Us, imagesPerSByBatch };
}
