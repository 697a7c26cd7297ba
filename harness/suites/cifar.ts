/**
 * The cifar suite: our CNN served over every transport, across the CIFAR-10 test set.
 * single-stream and concurrency (one image per request), offline (batches), accuracy and a
 * confusion matrix, agreement of every transport with the in-process baseline, and transport
 * overhead as measured ratios against that baseline and an echo round trip in the same sidecar.
 */
import type { ClassifyReply, Transport } from '../../transports/types.js';
import { HarnessError, toHarnessError } from '../errors.js';
import { closedLoop } from '../load/closed-loop.js';
import { datasetLoop } from '../load/dataset-loop.js';
import type { CellKey } from '../results.js';
import { median } from '../stats/bootstrap.js';
import { cellFromOutcome, failedCell } from './cell.js';
import { measureCifarBaseline, type CifarBaseline } from './cifar-baseline.js';
import { accuracyChecks, agreementCheck } from './cifar-checks.js';
import { loadCifarWorkload, type CifarWorkload } from './cifar-workload.js';
import type { SidecarLease, SuiteContext } from './context.js';
import { sidecarTargets } from './targets.js';
import { loadOptions, lostSidecar, measureOpenCell, modelConcurrency, SERVER_CONNECTIONS, serverDurationMs, withClients } from './measure.js';

const IMAGE_BYTES = 3072;
const SERVER_LOAD_FRACTIONS = [0.5, 0.9];


const image = (w: CifarWorkload, i: number): Uint8Array => w.images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES);

/** The echo round trip of one image's worth of bytes on this very sidecar: the IPC part of a classify. */
async function echoFloorUs(ctx: SuiteContext, client: Transport): Promise<number> {
  const payload = new Uint8Array(IMAGE_BYTES);
  const outcome = await closedLoop([() => client.echo(payload)], { ...loadOptions(ctx), minWindows: 2, maxWindows: 3 });
  return outcome.recorder.percentileUs(50);
}

async function measureSingle(ctx: SuiteContext, lease: SidecarLease, key: CellKey, w: CifarWorkload, baseline: CifarBaseline): Promise<Uint8Array | undefined> {
  return withClients(ctx, lease, key, key.concurrency, async (clients) => {
    const count = w.images.length / IMAGE_BYTES;
    const predicted = new Uint8Array(count).fill(255);
    const computeNs: number[] = [];
    const echoUs = key.concurrency === 1 ? await echoFloorUs(ctx, clients[0] as Transport) : undefined;
    for (let i = 0; i < Math.min(20, count); i++) await (clients[0] as Transport).classify(image(w, i)); // warm-up
    const outcome = await datasetLoop(
      clients.map((c) => (i: number) => c.classify(image(w, i))),
      count,
      {
        windowMs: ctx.config.windowMs,
        stabilityPct: ctx.config.stabilityPct,
        signal: ctx.signal,
        onResult(i, result) {
          const reply = result as ClassifyReply;
          if (reply.labels.length !== 1) throw new HarnessError('MISMATCH', `Expected 1 label, got ${reply.labels.length}`);
          predicted[i] = reply.labels[0] as number;
          if (reply.computeNs !== undefined) computeNs.push(reply.computeNs);
        },
      },
    );
    const p50 = outcome.recorder.percentileUs(50);
    // The framed wire carries no timing; its compute share comes from the in-process baseline.
    const computeUs = computeNs.length > 0 ? median(computeNs) / 1000 : baseline.computeP50Us;
    const metrics: Record<string, number | null> = {
      images_per_s: outcome.durationNs > 0 ? ((outcome.requests - outcome.errors) * 1e9) / outcome.durationNs : null,
      accuracy: w.labels === undefined ? null : accuracy(predicted, w.labels),
      compute_us: computeUs,
      compute_source_wire: computeNs.length > 0 ? 1 : 0,
      overhead_ratio: p50 / baseline.singleP50Us,
    };
    if (echoUs !== undefined) {
      metrics['echo_3072_p50_us'] = echoUs;
      metrics['floor_ratio'] = p50 / (baseline.singleP50Us + echoUs);
    }
    ctx.emit(cellFromOutcome(key, outcome, { metrics, sidecar: lease.facts, crashed: await lostSidecar(lease, outcome) }));
    return outcome.abortedBy === undefined ? predicted : undefined;
  });
}

async function measureOffline(ctx: SuiteContext, lease: SidecarLease, key: CellKey & { batch: number }, w: CifarWorkload, baseline: CifarBaseline): Promise<void> {
  await withClients(ctx, lease, key, 1, async ([client]) => {
    if (client === undefined) return;
    const count = w.images.length / IMAGE_BYTES;
    const batches = Math.ceil(count / key.batch);
    const slice = (b: number): Uint8Array => w.images.subarray(b * key.batch * IMAGE_BYTES, Math.min(count, (b + 1) * key.batch) * IMAGE_BYTES);
    await client.classify(slice(0)); // warm-up at this batch size
    const outcome = await datasetLoop([(b) => client.classify(slice(b))], batches, { windowMs: ctx.config.windowMs, stabilityPct: ctx.config.stabilityPct, signal: ctx.signal });
    const imagesPerS = outcome.abortedBy === undefined ? (count * 1e9) / outcome.durationNs : null;
    const inProcess = baseline.imagesPerSByBatch.get(key.batch);
    ctx.emit(
      cellFromOutcome(key, outcome, {
        metrics: { images_per_s: imagesPerS, offline_ratio: imagesPerS !== null && inProcess !== undefined ? imagesPerS / inProcess : null },
        sidecar: lease.facts,
        crashed: await lostSidecar(lease, outcome),
      }),
    );
  });
}

function accuracy(predicted: Uint8Array, labels: Uint8Array): number {
  let right = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) right += 1;
  return right / predicted.length;
}

export async function runCifarSuite(ctx: SuiteContext): Promise<void> {
  const workload = await loadCifarWorkload(ctx.config);
  ctx.progress.log(`cifar: ${workload.images.length / IMAGE_BYTES} images from ${workload.source}`);
  const list = sidecarTargets(ctx, 'cifar', [], false);
  const scenarios = ctx.config.scenarios;
  const concurrency = modelConcurrency(ctx);
  const batches = scenarios.includes('offline') ? ctx.config.batchSizes : [];
  const serverCells = scenarios.includes('server') ? SERVER_LOAD_FRACTIONS.length : 0;
  ctx.progress.plan(1 + batches.length + list.length * (1 + concurrency.length + batches.length + serverCells));

  const baseline = await measureCifarBaseline(ctx, workload.images);
  // Offered rates relative to what the model does in-process, one image at a time: below and near saturation.
  const capacity = 1e6 / baseline.singleP50Us;
  const rates = scenarios.includes('server') ? SERVER_LOAD_FRACTIONS.map((f) => ({ loadFraction: f, targetRps: Math.max(1, Math.round(capacity * f)) })) : [];
  for (const check of accuracyChecks(workload, baseline.labels)) ctx.check(check);
  const predictions = new Map<string, Uint8Array>();
  for (const target of list) {
    if (ctx.signal.aborted) return;
    const base = { suite: 'cifar' as const, transport: target.transport, family: target.family, ...(target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup }) };
    const single: CellKey = { ...base, scenario: 'single-stream', concurrency: 1, batch: 1 };
    try {
      await ctx.withSidecar(target, async (lease) => {
        const predicted = await measureSingle(ctx, lease, single, workload, baseline);
        if (predicted !== undefined) predictions.set(`${target.transport}/${target.family}`, predicted);
        for (const c of concurrency) await measureSingle(ctx, lease, { ...base, scenario: 'concurrency', concurrency: c, batch: 1 }, workload, baseline);
        for (const batch of batches) await measureOffline(ctx, lease, { ...base, scenario: 'offline', concurrency: 1, batch }, workload, baseline);
        for (const { loadFraction, targetRps } of rates) {
          let next = 0;
          const count = workload.images.length / IMAGE_BYTES;
          await measureOpenCell(ctx, lease, {
            key: { ...base, scenario: 'server', concurrency: SERVER_CONNECTIONS, batch: 1, targetRps, loadFraction },
            request: (client) => () => client.classify(image(workload, next++ % count)),
            durationMs: serverDurationMs(ctx),
          });
        }
      });
    } catch (error) {
      ctx.emit(failedCell(single, toHarnessError(error)));
    }
  }
  ctx.check(agreementCheck(baseline.labels, predictions, workload.classNames));
}
