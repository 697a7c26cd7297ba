/**
 * The cifar suite: our CNN served over every transport and called in-process, on the CIFAR-10
 * test set, every arm interleaved round by round on the same images: single-stream and
 * concurrency (one image per request), offline (batches), server (a rate relative to the
 * in-process capacity). Accuracy and a confusion matrix; every transport must return the
 * in-process class for every image; the transport's overhead on the model's compute time.
 */
import type { ClassifyReply } from '../../transports/types.js';
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import type { PlacedBlock } from '../load/rounds.js';
import { seriesName, type CellKey } from '../results.js';
import { SERVER_CONNECTIONS, transportArm, type Shape } from './arms.js';
import { accuracyChecks, agreementCheck, labelTextCheck, noteUnknown, UNCLASSIFIED, type LabelTexts } from './cifar-checks.js';
import { loadCifarWorkload, type CifarWorkload } from './cifar-workload.js';
import type { SidecarLease, SidecarTarget, SuiteContext } from './context.js';
import type { GroupArm } from './group.js';
import { startInProcess, type InProcessModel } from './inprocess.js';
import { modelFlags } from '../model-flags.js';
import { capacityOf, inProcessArm, modelConcurrency, notOurModel, roundSlices, roundsFor, skippedCheck } from './model-arms.js';
import { clientChoices, clientSource, sidecarTargets, targetKeyFields } from './targets.js';

const IMAGE_BYTES = 3072;
const SERVER_LOAD_FRACTIONS = [0.5, 0.9];
const QUICK_SERVER_LOAD_FRACTIONS = [0.5];
const INPROCESS: Pick<CellKey, 'transport' | 'family'> = { transport: 'in-process', family: 'in-process' };
const OFFLINE_BATCHES_PER_BLOCK = 2;

/** One load shape; every transport and (but for the server scenario) the in-process model run it together. */
interface CifarGroup {
  readonly scenario: CellKey['scenario'];
  readonly concurrency: number;
  readonly batch: number;
  readonly loadFraction?: number;
}

interface Labels {
  /** In-process classes of the single-stream pass, by image. */
  readonly reference: Uint8Array;
  /** Each transport's classes of the single-stream pass, by `transport/family`. */
  readonly byTransport: Map<string, Uint8Array>;
  /** Replies that named their class (framed type 1), and the names that are not a class of the data set. */
  readonly texts: LabelTexts;
}

function slice(w: CifarWorkload, first: number, count: number): Uint8Array {
  return w.images.subarray(first * IMAGE_BYTES, (first + count) * IMAGE_BYTES);
}

function groupsOf(ctx: SuiteContext): CifarGroup[] {
  const s = ctx.config.scenarios;
  const fractions = ctx.config.quick ? QUICK_SERVER_LOAD_FRACTIONS : SERVER_LOAD_FRACTIONS;
  return [
    ...(s.includes('single-stream') ? [{ scenario: 'single-stream' as const, concurrency: 1, batch: 1 }] : []),
    ...modelConcurrency(ctx).map((concurrency) => ({ scenario: 'concurrency' as const, concurrency, batch: 1 })),
    ...(s.includes('offline') ? ctx.config.batchSizes.map((batch) => ({ scenario: 'offline' as const, concurrency: 1, batch })) : []),
    ...(s.includes('server') ? fractions.map((loadFraction) => ({ scenario: 'server' as const, concurrency: SERVER_CONNECTIONS, batch: 1, loadFraction })) : []),
  ];
}

/** The requests of a group: images (batch 1) or batches, as indices into the workload. */
function requestsOf(w: CifarWorkload, group: CifarGroup): { count: number; images: (item: number) => [number, number] } {
  const images = w.images.length / IMAGE_BYTES;
  const count = Math.ceil(images / group.batch);
  return { count, images: (item) => [(item % count) * group.batch, Math.min(group.batch, images - (item % count) * group.batch)] };
}

/** `model`: the in-process baseline, its start failure, or undefined where there is none (--connect). */
function groupArms(ctx: SuiteContext, w: CifarWorkload, group: CifarGroup, model: InProcessModel | HarnessError | undefined, targets: readonly SidecarTarget[], leases: readonly (SidecarLease | HarnessError)[], labels: Labels, capacityRps: number): GroupArm[] {
  const requests = requestsOf(w, group);
  const rounds = roundsFor(requests.count, ctx.config.minRounds);
  // A batch takes milliseconds and varies with the machine; a median of one would be noise.
  const itemsFor = roundSlices(requests.count, rounds, group.scenario === 'offline' ? OFFLINE_BATCHES_PER_BLOCK : 1);
  const single = group.scenario === 'single-stream';
  const base = { suite: 'cifar' as const, scenario: group.scenario, concurrency: group.concurrency, batch: group.batch };
  const rate = group.loadFraction === undefined ? {} : { targetRps: Math.max(1, Math.round(capacityRps * group.loadFraction)), loadFraction: group.loadFraction };
  // The model is called one request at a time; its row carries its group's concurrency so each group's floor has its own id.
  const modelKey: CellKey = { ...base, ...INPROCESS };
  const arms: GroupArm[] = [];
  const withModel = group.scenario !== 'server' && model !== undefined;
  if (withModel) {
    const onReply = (items: readonly number[], reply: Record<string, unknown>): void => {
      if (!single) return;
      const got = Array.isArray(reply['labels']) ? (reply['labels'] as number[]) : [];
      items.forEach((item, i) => (labels.reference[item] = got[i] ?? UNCLASSIFIED));
    };
    const command = (items: readonly number[]) => ({ op: 'classify', items: items.flatMap((b) => range(...requests.images(b))), batch: group.batch });
    arms.push({
      key: modelKey,
      open: model instanceof HarnessError ? () => Promise.reject(model) : inProcessArm(model, command, itemsFor, 30 * 60_000, onReply, ctx.signal),
      metrics: (blocks) => cifarMetrics(blocks, group, w, labels.reference),
    });
  }
  const shape: Shape = group.scenario === 'server' ? { kind: 'open', workers: SERVER_CONNECTIONS, ratePerS: rate.targetRps ?? 1 } : { kind: 'items', workers: group.concurrency, itemsFor };
  // Every server stack is a sidecar of its own; every client library an arm on it (targets.ts).
  targets.forEach((target, i) => {
    const lease = leases[i] as SidecarLease | HarnessError;
    for (const choice of clientChoices(ctx, target)) {
      const key: CellKey = { ...base, transport: target.transport, family: lease instanceof HarnessError ? target.family : lease.family, ...targetKeyFields(ctx, target), ...choice.key, ...rate };
      const predicted = new Uint8Array(w.images.length / IMAGE_BYTES).fill(UNCLASSIFIED);
      if (single) labels.byTransport.set(`${seriesName(key)}/${key.family}`, predicted);
      arms.push({
        key,
        ...(withModel ? { floor: modelKey, model: modelKey } : {}),
        open: transportArm(ctx, lease instanceof HarnessError ? lease : clientSource(lease, choice), {
          shape,
          request: (c, item) => c.classify(slice(w, ...requests.images(item))).catch((error: unknown) => Promise.reject(noteUnknown(error, labels.texts))),
          onResult: (result, item) => recordLabels(result as ClassifyReply, requests.images(item), predicted, labels.texts),
          warmup: { requests: Math.min(20, requests.count), ms: 0 },
        }),
        metrics: (blocks) => cifarMetrics(blocks, group, w, predicted),
      });
    }
  });
  return arms;
}

function range(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => first + i);
}

/** Check a reply's size and keep its classes; returns the model's compute time the reply carried. */
function recordLabels(reply: ClassifyReply, [first, count]: [number, number], into: Uint8Array, texts: LabelTexts): number | undefined {
  if (reply.labels.length !== count) throw new HarnessError('MISMATCH', `Expected ${count} label(s), got ${reply.labels.length}`);
  into.set(reply.labels, first);
  texts.named += reply.names?.length ?? 0;
  return reply.computeNs;
}

function cifarMetrics(blocks: readonly PlacedBlock[], group: CifarGroup, w: CifarWorkload, predicted: Uint8Array): Record<string, number | null> {
  const ok = blocks.reduce((n, b) => n + b.latenciesNs.length, 0);
  const ns = blocks.reduce((n, b) => n + b.durationNs, 0);
  const labelled = w.labels !== undefined && group.scenario !== 'server' && group.scenario !== 'offline';
  return { images_per_s: ns > 0 ? (ok * group.batch * 1e9) / ns : null, accuracy: labelled ? accuracyOf(predicted, w.labels!) : null };
}

function accuracyOf(predicted: Uint8Array, labels: Uint8Array): number {
  let right = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) right += 1;
  return right / predicted.length;
}

function label(group: CifarGroup): string {
  const what = group.scenario === 'offline' ? `batch ${group.batch}` : group.scenario === 'server' ? `load ${group.loadFraction}` : `c=${group.concurrency}`;
  return `cifar ${group.scenario} ${what}`;
}


export async function runCifarSuite(ctx: SuiteContext): Promise<void> {
  const workload = await loadCifarWorkload(ctx.config);
  const count = workload.images.length / IMAGE_BYTES;
  ctx.progress.log(`cifar: ${count} images from ${workload.source}`);
  const targets: SidecarTarget[] = sidecarTargets(ctx, 'cifar', true);
  const groups = groupsOf(ctx);
  const skip = notOurModel(ctx);
  if (skip !== undefined) ctx.progress.log(`cifar: no in-process baseline and no checks against it: ${skip}`);
  const arms = targets.reduce((n, t) => n + clientChoices(ctx, t).length, 0);
  ctx.progress.plan(groups.reduce((n, g) => n + arms + (g.scenario === 'server' || skip !== undefined ? 0 : 1), 0));
  const model = skip !== undefined ? undefined : await startInProcess(['--model', 'cifar', '--images', '{input}', ...modelFlags(ctx.config, 'cifar')], { name: 'images.bin', bytes: workload.images }, ctx.config.readyTimeoutMs).catch((e: unknown) => toHarnessError(e));
  const labels: Labels = { reference: new Uint8Array(count).fill(UNCLASSIFIED), byTransport: new Map(), texts: { named: 0, unknown: new Map() } };
  try {
    await ctx.withSidecars(targets, async (leases) => {
      let capacity = 1;
      for (const group of groups) {
        if (ctx.signal.aborted) return;
        const arms = groupArms(ctx, workload, group, model, targets, leases, labels, capacity);
        const rounds = group.scenario === 'server' ? ctx.config.minRounds : roundsFor(requestsOf(workload, group).count, ctx.config.minRounds);
        const oneAtATime = group.scenario === 'single-stream' || group.scenario === 'offline';
        const figure = group.scenario === 'single-stream' || group.scenario === 'server' ? 'p50' : 'time-per-request';
        const cells = await ctx.measure(arms, { label: label(group), figure, minRounds: rounds, maxRounds: rounds, untilSettled: false, strictFloors: group.scenario === 'single-stream', overhead: oneAtATime });
        if (group.scenario === 'single-stream') capacity = capacityOf(cells);
      }
    });
  } finally {
    if (model !== undefined && !(model instanceof HarnessError)) await model.close();
  }
  if (labels.texts.named > 0 || labels.texts.unknown.size > 0) ctx.check(labelTextCheck(labels.texts, workload.classNames));
  if (skip !== undefined) {
    ctx.check(skippedCheck('cifar: accuracy', `${skip}; each cell still reports the accuracy of what it was answered`));
    ctx.check(skippedCheck('cifar: agreement', `${skip}; agreement is with our model called in-process`));
    return;
  }
  const completed = new Map([...labels.byTransport].filter(([, p]) => !p.includes(UNCLASSIFIED)));
  for (const check of accuracyChecks(workload, labels.reference)) ctx.check(check);
  ctx.check(agreementCheck(labels.reference, completed, workload.classNames));
}
