/**
 * The model suite: your own model (`--model path/to/file.py:Class`) served over every transport
 * and called in-process, every arm interleaved round by round on the same requests, one request at
 * a time (the cifar suite's single-stream scenario). What each wire adds to the model's compute
 * time, and whether every wire returns what the model returns in-process. http-json is measured in
 * both of OIP REST's tensor encodings (the binary extension and JSON lists), as two arms on one
 * server. `--tensor-bytes` measures one group per request size (model-sizes.ts); `--connect`
 * measures a server we did not start, over the Open Inference Protocol (model-connect.ts).
 */
import { decodeTensorList, encodeTensorList } from '../../transports/framed-tensors.js';
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import type { InferReply, ModelMetadata } from '../../transports/types.js';
import { FULL, type ResolvedConfig } from '../config.js';
import { modelFlags, modelSpecArg } from '../model-flags.js';
import { seriesName, type CellKey, type TensorEncoding } from '../results.js';
import { transportArm } from './arms.js';
import type { SidecarLease, SidecarTarget, SuiteContext } from './context.js';
import type { GroupArm } from './group.js';
import { startInProcess, type InProcessModel } from './inprocess.js';
import { modelAgreementCheck, type OutputsByRequest } from './model-agreement.js';
import { inProcessArm, notOurModel, roundSlices, roundsFor, skippedCheck } from './model-arms.js';
import { modelClients, modelMetadataOf } from './model-connect.js';
import { readModelInputs, synthesiseRequests, type ModelRequest } from './model-inputs.js';
import { describeMetadata } from './model-metadata.js';
import { distinctRequests, sizeInputs, type SizedInputs } from './model-sizes.js';
import { sidecarTargets, targetKeyFields } from './targets.js';

/** Synthesised requests when `--limit` does not say: every arm sends each once, spread over the rounds. */
export const DEFAULT_MODEL_REQUESTS = 200;
const INPROCESS: Pick<CellKey, 'transport' | 'family'> = { transport: 'in-process', family: 'in-process' };
const BASE = { suite: 'model', scenario: 'single-stream', concurrency: 1, batch: 1 } as const;
const LABEL = 'model single-stream c=1';
/**
 * Requests per arm per round, at least (the default 200 requests in 20 rounds give 10): a process
 * that sat idle while the other arms ran computes slowly for its first few requests (the example
 * MLP inside a framed sidecar: 230 us a request at one per round, 120 at five, 68 at ten, against
 * 27-41 in-process; docs/results.md), so the per-round median would depend on `--limit`. A small
 * `--limit` repeats its requests.
 */
export const MIN_REQUESTS_PER_ROUND = 10;

/**
 * One group's requests: `count` measured items cycling through `requests` (fewer distinct ones
 * than items only for large tensors), which start at `offset` in the in-process driver's file.
 */
interface Workload {
  readonly requests: readonly ModelRequest[];
  readonly count: number;
  readonly offset: number;
  /** With `--tensor-bytes`: the size this group's requests were made to. */
  readonly sized?: SizedInputs;
  /** The inputs' bytes per request, on average (BYTES vary; sizeInputs only estimates them). */
  readonly bytes: number;
}

/** The encodings a target is measured in: both for a sidecar we started on http-json; the server's own choice otherwise. */
function encodingsOf(ctx: SuiteContext, target: SidecarTarget): (TensorEncoding | undefined)[] {
  return target.transport === 'http-json' && ctx.config.connect === undefined ? ['binary', 'json'] : [undefined];
}

const meanBytes = (requests: readonly ModelRequest[]): number => Math.round(requests.reduce((n, r) => n + r.reduce((m, t) => m + t.data.length, 0), 0) / Math.max(1, requests.length));

/** The groups to measure: the inputs file's requests, or synthesised ones, at each `--tensor-bytes` size or the model's own. */
async function workloadsOf(config: ResolvedConfig, metadata: ModelMetadata): Promise<Workload[]> {
  const count = config.limit ?? DEFAULT_MODEL_REQUESTS;
  if (config.modelInputs !== undefined) {
    const requests = await readModelInputs(config.modelInputs, metadata);
    return [{ requests, count: requests.length, offset: 0, bytes: meanBytes(requests) }];
  }
  const sizes = config.tensorBytes ?? [];
  if (sizes.length === 0) {
    const requests = synthesiseRequests(metadata, { seed: config.seed, count, batch: 1 });
    return [{ requests, count, offset: 0, bytes: meanBytes(requests) }];
  }
  let offset = 0;
  return sizes.map((target) => {
    const sized = sizeInputs(metadata, target);
    const requests = synthesiseRequests(metadata, { seed: config.seed, count: distinctRequests(count, sized.bytes), batch: 1, shapes: sized.shapes });
    const workload = { requests, count, offset, sized, bytes: meanBytes(requests) };
    offset += requests.length;
    return workload;
  });
}

/** The in-process driver's `--tensors` file: each request a `u32 BE length` then a framed infer request body. */
export function requestsFile(requests: readonly ModelRequest[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const request of requests) {
    const parts = encodeTensorList(request);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, parts.reduce((n, p) => n + p.length, 0));
    chunks.push(length, ...parts);
  }
  return Buffer.concat(chunks);
}

/** What each arm answered for each distinct request (numbered across the groups, as in the driver's file), for the agreement check. */
interface Answers {
  readonly reference: OutputsByRequest;
  readonly byArm: Map<string, OutputsByRequest>;
}

function modelArms(ctx: SuiteContext, metadata: ModelMetadata, w: Workload, model: InProcessModel | HarnessError | undefined, targets: readonly SidecarTarget[], leases: readonly (SidecarLease | HarnessError)[], answers: Answers): GroupArm[] {
  const distinct = w.requests.length;
  const itemsFor = roundSlices(w.count, roundsFor(w.count, ctx.config.minRounds), MIN_REQUESTS_PER_ROUND);
  // Item i sends distinct request i % distinct; its answer is kept the first time only.
  const slot = (item: number): number => w.offset + (item % distinct);
  const size = w.sized === undefined ? {} : { payloadBytes: w.sized.targetBytes };
  const modelKey: CellKey = { ...BASE, ...INPROCESS, ...size };
  const arms: GroupArm[] = [];
  if (model !== undefined) {
    const onReply = (items: readonly number[], reply: Record<string, unknown>): void => {
      const outputs = Array.isArray(reply['outputs']) ? reply['outputs'] : [];
      items.forEach((item, i) => {
        const encoded = outputs[i];
        if (typeof encoded === 'string' && answers.reference[slot(item)] === undefined) answers.reference[slot(item)] = decodeTensorList(Buffer.from(encoded, 'base64'));
      });
    };
    const command = (items: readonly number[]): Record<string, unknown> => ({ op: 'infer', items: items.map(slot), outputs: items.some((i) => i < distinct) });
    arms.push({ key: modelKey, open: model instanceof HarnessError ? () => Promise.reject(model) : inProcessArm(model, command, itemsFor, 10 * 60_000, onReply, ctx.signal) });
  }
  targets.forEach((target, i) => {
    const lease = leases[i] as SidecarLease | HarnessError;
    for (const encoding of encodingsOf(ctx, target)) {
      const family = lease instanceof HarnessError ? target.family : lease.family;
      const key: CellKey = { ...BASE, transport: target.transport, family, ...targetKeyFields(ctx, target), ...(encoding === undefined ? {} : { tensorEncoding: encoding }), ...size };
      const name = `${seriesName(key)} over ${family}`;
      const answered = answers.byArm.get(name) ?? [];
      answers.byArm.set(name, answered);
      arms.push({
        key,
        ...(model === undefined ? {} : { floor: modelKey, model: modelKey }),
        open: transportArm(ctx, lease instanceof HarnessError ? lease : modelClients(ctx, lease, metadata.name, encoding), {
          shape: { kind: 'items', workers: 1, itemsFor },
          // Warm-up requests run on a running count; the measured ones on the round's items.
          request: (c, item) => c.infer(w.requests[item % distinct] as ModelRequest),
          onResult: (result, item) => {
            const reply = result as InferReply;
            answered[slot(item)] ??= reply.outputs;
            return reply.computeNs;
          },
          // At most 20 (`--warmup` fewer): a 4 MiB JSON request takes seconds.
          warmup: { requests: Math.min(20, ctx.config.warmupRequests, w.count), ms: 0 },
        }),
      });
    }
  });
  return arms;
}

/** `model: metadata`'s detail: the model, where its metadata came from, and what is sent. */
function describeRequests(config: ResolvedConfig, workloads: readonly Workload[]): string {
  const origin = config.modelInputs === undefined ? `synthesised from its metadata (seed ${config.seed})` : `from ${config.modelInputs}`;
  const sizes = workloads.flatMap((w) => (w.sized === undefined ? [] : [`${w.sized.targetBytes} B: ${w.bytes} B of inputs (${w.sized.sized} = ${w.sized.dim}), ${w.requests.length} distinct`]));
  return `${workloads[0]?.count ?? 0} request(s) ${origin}${sizes.length === 0 ? '' : ` at each size; ${sizes.join('; ')}`}`;
}

export async function runModelSuite(ctx: SuiteContext): Promise<void> {
  const { config } = ctx;
  const skip = notOurModel(ctx);
  const spec = skip === undefined ? modelSpecArg(config, 'model') : undefined;
  const targets = sidecarTargets(ctx, 'model', false);
  if (skip !== undefined) ctx.progress.log(`model: no in-process baseline, so no overhead and no agreement check: ${skip}`);
  const groups = Math.max(1, config.tensorBytes?.length ?? 0);
  ctx.progress.plan(groups * (targets.reduce((n, t) => n + encodingsOf(ctx, t).length, 0) + (skip === undefined ? 1 : 0)));
  const answers: Answers = { reference: [], byArm: new Map() };
  await ctx.withSidecars(targets, async (leases) => {
    const failures = leases.filter((l): l is HarnessError => l instanceof HarnessError);
    // Every sidecar failing to start is the model failing to load: the run as asked cannot go on.
    if (config.connect === undefined && failures.length === leases.length && failures[0] !== undefined) {
      throw new HarnessError('USAGE', `\`--model ${config.modelPath ?? spec}\`: no sidecar could load the model (${failures[0].code}): ${failures[0].message}`, { cause: failures[0] });
    }
    const { metadata, source } = await modelMetadataOf(ctx, leases);
    const workloads = await workloadsOf(config, metadata);
    const requests = workloads.flatMap((w) => w.requests);
    const detail = describeRequests(config, workloads);
    ctx.check({ name: 'model: metadata', ok: true, detail: `${describeMetadata(metadata)} (from ${source}); ${detail}`, data: { spec: config.modelPath, metadata, requests: requests.length, inputs: detail } });
    ctx.progress.log(`model: ${metadata.name}, ${detail}`);
    answers.reference.push(...new Array<undefined>(requests.length).fill(undefined));
    const model = spec === undefined ? undefined : await startInProcess(['--model', spec, '--tensors', '{input}', ...modelFlags(config, 'model')], { name: 'requests.bin', bytes: requestsFile(requests) }, config.readyTimeoutMs).catch((e: unknown) => toHarnessError(e));
    try {
      for (const w of workloads) {
        const rounds = roundsFor(w.count, config.minRounds);
        const label = w.sized === undefined ? LABEL : `${LABEL} ${w.sized.targetBytes} B`;
        await ctx.measure(modelArms(ctx, metadata, w, model, targets, leases, answers), { label, figure: 'p50', minRounds: rounds, maxRounds: rounds, untilSettled: false, strictFloors: true, overhead: model !== undefined });
      }
    } finally {
      if (model !== undefined && !(model instanceof HarnessError)) await model.close();
    }
  });
  if (skip !== undefined) {
    ctx.check(skippedCheck('model: overhead', `${skip}: there is no model file to call in-process, so there is no baseline to take overhead from; the cells give the server's latency only`));
    ctx.check(skippedCheck('model: agreement', `${skip}; agreement is with the model called in-process`));
    return;
  }
  ctx.check(modelAgreementCheck(answers.reference, answers.byArm, config.floatTolerance ?? FULL.floatTolerance));
}
