/**
 * The gemma suite: our Gemma-architecture decoder behind every transport and called in-process,
 * interleaved round by round on the same prompts. Per transport and generation length: end to end
 * latency, time to first token, inter-token latency, tokens/s, unary and streamed; the transport's
 * overhead on the model's own compute time (carried in every reply's stats); greedy outputs must
 * agree everywhere.
 */
import { loadPrompts, type Prompt } from '../../datasets/prompts.js';
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import type { PlacedBlock } from '../load/rounds.js';
import { MIN_VALUES_FOR_95 } from '../stats/intervals.js';
import { modelFlags } from '../model-flags.js';
import type { CellKey, RunCheck } from '../results.js';
import { SERVER_CONNECTIONS, transportArm, type Shape } from './arms.js';
import type { SidecarLease, SidecarTarget, SuiteContext } from './context.js';
import { percentile, timedGenerate, type TimedGeneration } from './gemma-measure.js';
import type { GroupArm } from './group.js';
import { startInProcess, type InProcessModel } from './inprocess.js';
import { capacityOf, inProcessArm, modelConcurrency, notOurModel, roundSlices, skippedCheck } from './model-arms.js';
import { sidecarTargets, targetKeyFields } from './targets.js';

const QUICK_PROMPTS = 4;
const SERVER_LOAD_FRACTIONS = [0.5, 0.9];
const QUICK_SERVER_LOAD_FRACTIONS = [0.5];
/**
 * A generation takes a tenth of a second or more, so gemma groups run a fixed number of rounds:
 * one pass over the prompts one at a time, and the fewest that give a 95% interval otherwise.
 */
const ROUNDS = MIN_VALUES_FOR_95;
/** Open-loop blocks hold a few arrivals at a few per second. */
const SERVER_ARRIVALS = 3;
const INPROCESS: Pick<CellKey, 'transport' | 'family'> = { transport: 'in-process', family: 'in-process' };

interface GemmaGroup {
  readonly scenario: CellKey['scenario'];
  readonly steps: number;
  readonly concurrency: number;
  readonly loadFraction?: number;
}

/** Responses per pass, `steps/transport/family/mode` -> one per prompt (the first seen). */
type Outputs = Map<string, string[]>;

function groupsOf(ctx: SuiteContext, prompts: number): GemmaGroup[] {
  const s = ctx.config.scenarios;
  const first = ctx.config.samplingSteps[0] ?? 16;
  const concurrency = modelConcurrency(ctx);
  const fractions = ctx.config.quick ? QUICK_SERVER_LOAD_FRACTIONS : SERVER_LOAD_FRACTIONS;
  return [
    ...(s.includes('single-stream') ? ctx.config.samplingSteps.map((steps) => ({ scenario: 'single-stream' as const, steps, concurrency: 1 })) : []),
    ...concurrency.map((c) => ({ scenario: 'concurrency' as const, steps: first, concurrency: c })),
    // Offline is every prompt at once; skipped where a concurrency level already is that.
    ...(s.includes('offline') && !concurrency.includes(prompts) ? [{ scenario: 'offline' as const, steps: first, concurrency: prompts }] : []),
    ...(s.includes('server') ? fractions.map((loadFraction) => ({ scenario: 'server' as const, steps: first, concurrency: SERVER_CONNECTIONS, loadFraction })) : []),
  ];
}

/** Which prompts a round gets: one per round single-stream, `concurrency` per round otherwise. */
function itemsOf(group: GemmaGroup, prompts: number): { rounds: number; itemsFor: (round: number) => number[] } {
  const rounds = group.scenario === 'single-stream' ? Math.max(ROUNDS, prompts) : ROUNDS;
  return { rounds, itemsFor: roundSlices(prompts, rounds, group.concurrency) };
}

function generationMetrics(timed: readonly TimedGeneration[], blocks: readonly PlacedBlock[]): Record<string, number | null> {
  const ttft = timed.flatMap((t) => (t.ttftNs === undefined ? [] : [t.ttftNs]));
  const gaps = timed.flatMap((t) => t.gapsNs);
  const tokens = timed.reduce((n, t) => n + (t.reply.stats.outputTokens ?? 0), 0);
  // A server that reports no token counts (the idea's) has no token rate, rather than a rate of 0.
  const counted = timed.some((t) => t.reply.stats.outputTokens !== undefined);
  const ns = blocks.reduce((n, b) => n + b.durationNs, 0);
  const us = (v: number | null): number | null => (v === null ? null : v / 1000);
  return {
    ttft_p50_us: us(percentile(ttft, 50)),
    ttft_p99_us: us(percentile(ttft, 99)),
    itl_p50_us: us(percentile(gaps, 50)),
    itl_p99_us: us(percentile(gaps, 99)),
    tokens_per_s: ns > 0 && counted ? (tokens * 1e9) / ns : null,
    output_tokens: counted ? tokens : null,
  };
}

function inProcessGemmaArm(ctx: SuiteContext, model: InProcessModel | HarnessError, group: GemmaGroup, itemsFor: (r: number) => number[], outputs: Outputs, prompts: number): GroupArm {
  const timed: TimedGeneration[] = [];
  const responses = new Array<string | undefined>(prompts);
  if (group.scenario === 'single-stream') outputs.set(`${group.steps}/in-process`, responses as string[]);
  const onReply = (items: readonly number[], reply: Record<string, unknown>): void => {
    const texts = (reply['responses'] as string[] | undefined) ?? [];
    items.forEach((item, i) => {
      responses[item] ??= texts[i];
      const ttft = (reply['ttft_ns'] as (number | null)[] | undefined)?.[i];
      timed.push({ reply: { response: texts[i] ?? '', stats: { outputTokens: (reply['output_tokens'] as number[] | undefined)?.[i] ?? 0 } }, ttftNs: ttft ?? undefined, gapsNs: (reply['gaps_ns'] as number[][] | undefined)?.[i] ?? [] });
    });
  };
  return {
    // Called one request at a time; the row carries its group's concurrency so each group's floor has its own id.
    key: { suite: 'gemma', scenario: group.scenario, ...INPROCESS, concurrency: group.concurrency, samplingSteps: group.steps, streaming: true },
    open: model instanceof HarnessError ? () => Promise.reject(model) : inProcessArm(model, (items) => ({ op: 'generate', items, steps: group.steps }), itemsFor, 60 * 60_000, onReply, ctx.signal),
    metrics: (blocks) => generationMetrics(timed, blocks),
  };
}

function transportArms(ctx: SuiteContext, group: GemmaGroup, prompts: readonly Prompt[], itemsFor: (r: number) => number[], targets: readonly SidecarTarget[], leases: readonly (SidecarLease | HarnessError)[], outputs: Outputs, capacityRps: number, floor: CellKey | undefined): GroupArm[] {
  const modes = group.scenario === 'single-stream' ? [false, true] : [false];
  const rate = group.loadFraction === undefined ? {} : { targetRps: Math.max(0.1, Number((capacityRps * group.loadFraction).toFixed(2))), loadFraction: group.loadFraction };
  const shape: Shape = group.scenario === 'server' ? { kind: 'open', workers: 4, ratePerS: rate.targetRps ?? 1, arrivals: SERVER_ARRIVALS } : { kind: 'items', workers: group.concurrency, itemsFor };
  return targets.flatMap((target, i) =>
    modes.map((streaming): GroupArm => {
      const lease = leases[i] as SidecarLease | HarnessError;
      const family = lease instanceof HarnessError ? target.family : lease.family;
      const key: CellKey = { suite: 'gemma', scenario: group.scenario, transport: target.transport, family, ...targetKeyFields(ctx, target), concurrency: group.concurrency, samplingSteps: group.steps, streaming, ...rate };
      const timed: TimedGeneration[] = [];
      const responses = new Array<string | undefined>(prompts.length);
      if (group.scenario === 'single-stream') outputs.set(`${group.steps}/${target.transport}/${family}/${streaming ? 'stream' : 'unary'}`, responses as string[]);
      const prompt = (item: number): string => (prompts[item % prompts.length] as Prompt).prompt;
      return {
        key,
        ...(floor === undefined ? {} : { floor, model: floor }),
        open: transportArm(ctx, lease, {
          shape,
          request: (c, item) => timedGenerate(c, prompt(item), group.steps, streaming),
          onResult(result, item) {
            const t = result as TimedGeneration;
            timed.push(t);
            responses[item % prompts.length] ??= t.reply.response;
            const { prefillNs, decodeNs } = t.reply.stats;
            return prefillNs === undefined || decodeNs === undefined ? undefined : prefillNs + decodeNs;
          },
          warmup: { requests: 1, ms: 0 },
        }),
        metrics: (blocks) => generationMetrics(timed, blocks),
      };
    }),
  );
}

/** Greedy outputs must be identical in-process and over every transport and mode. */
export function agreementCheck(outputs: Outputs, prompts: readonly Prompt[]): RunCheck {
  const mismatches: string[] = [];
  let passes = 0;
  for (const [name, responses] of outputs) {
    const [steps] = name.split('/');
    const reference = outputs.get(`${steps}/in-process`);
    if (name.endsWith('/in-process') || reference === undefined) continue;
    passes += 1;
    prompts.forEach((p, i) => {
      if (responses[i] !== undefined && responses[i] !== reference[i]) mismatches.push(`${name} prompt ${p.id}`);
    });
  }
  const complete = [...outputs.values()].every((r) => r.filter((x) => x !== undefined).length === prompts.length);
  return {
    name: 'gemma: agreement',
    ok: passes > 0 && complete && mismatches.length === 0,
    detail:
      passes === 0 || !complete
        ? 'not measured: a pass (in-process or over a transport) did not answer every prompt'
        : mismatches.length === 0
          ? `greedy outputs identical in-process and over ${passes} transport/mode passes`
          : `${mismatches.length} outputs differ from in-process, first: ${mismatches[0] ?? ''}`,
    data: { mismatches: mismatches.slice(0, 50) },
  };
}

function label(group: GemmaGroup): string {
  const what = group.scenario === 'server' ? `load ${group.loadFraction}` : `c=${group.concurrency}`;
  return `gemma ${group.scenario} steps=${group.steps} ${what}`;
}

export async function runGemmaSuite(ctx: SuiteContext): Promise<void> {
  const prompts = await loadPrompts(undefined, ctx.config.quick ? QUICK_PROMPTS : ctx.config.limit);
  const targets = sidecarTargets(ctx, 'gemma', false);
  const groups = groupsOf(ctx, prompts.length);
  const skip = notOurModel(ctx);
  if (skip !== undefined) ctx.progress.log(`gemma: no in-process baseline and no checks against it: ${skip}`);
  const baseline = (g: GemmaGroup): number => (g.scenario === 'server' || skip !== undefined ? 0 : 1);
  ctx.progress.plan(groups.reduce((n, g) => n + targets.length * (g.scenario === 'single-stream' ? 2 : 1) + baseline(g), 0));
  const input = { name: 'prompts.json', bytes: new TextEncoder().encode(JSON.stringify(prompts.map((p) => p.prompt))) };
  const model = skip !== undefined ? undefined : await startInProcess(['--model', 'gemma', '--prompts', '{input}', ...modelFlags(ctx.config, 'gemma')], input, ctx.config.readyTimeoutMs).catch((e: unknown) => toHarnessError(e));
  const outputs: Outputs = new Map();
  try {
    await ctx.withSidecars(targets, async (leases) => {
      let capacity = 1;
      for (const group of groups) {
        if (ctx.signal.aborted) return;
        const server = group.scenario === 'server';
        const { rounds, itemsFor } = server ? { rounds: ROUNDS, itemsFor: () => [] } : itemsOf(group, prompts.length);
        const modelArm = server || model === undefined ? undefined : inProcessGemmaArm(ctx, model, group, itemsFor, outputs, prompts.length);
        const arms = [...(modelArm === undefined ? [] : [modelArm]), ...transportArms(ctx, group, prompts, itemsFor, targets, leases, outputs, capacity, modelArm?.key)];
        const single = group.scenario === 'single-stream';
        const cells = await ctx.measure(arms, { label: label(group), figure: single || server ? 'p50' : 'time-per-request', minRounds: rounds, maxRounds: rounds, untilSettled: false, strictFloors: single, overhead: single });
        if (group.scenario === 'single-stream' && group.steps === ctx.config.samplingSteps[0]) capacity = capacityOf(cells);
      }
    });
  } finally {
    if (model !== undefined && !(model instanceof HarnessError)) await model.close();
  }
  ctx.check(skip === undefined ? agreementCheck(outputs, prompts) : skippedCheck('gemma: agreement', `${skip}; agreement is with our model called in-process`));
}
