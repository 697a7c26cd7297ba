/**
 * The gemma suite: our Gemma-architecture decoder behind every transport. Per transport and
 * generation length: end-to-end latency, time to first token, inter-token latency, output
 * tokens/s, unary and streamed; the same sampler called in-process in the same run; overhead as a
 * percentage of generation time; greedy outputs must agree everywhere.
 */
import { loadPrompts, type Prompt } from '../../datasets/prompts.js';
import type { Transport } from '../../transports/types.js';
import { toHarnessError } from '../errors.js';
import { datasetLoop } from '../load/dataset-loop.js';
import type { CellKey } from '../results.js';
import { cellFromOutcome, failedCell } from './cell.js';
import type { SidecarLease, SuiteContext } from './context.js';
import { sidecarTargets } from './targets.js';
import { gemmaModelArgs, measureGemmaBaseline, type GemmaBaseline } from './gemma-baseline.js';
import { percentile, timedGenerate, type TimedGeneration } from './gemma-measure.js';
import { lostSidecar, measureOpenCell, modelConcurrency, SERVER_CONNECTIONS, serverDurationMs, withClients } from './measure.js';

const QUICK_PROMPTS = 4;
const SERVER_LOAD_FRACTIONS = [0.5, 0.9];
const QUICK_SERVER_LOAD_FRACTIONS = [0.5];


type Outputs = Map<string, string[]>; // "steps/transport/family/mode" -> response per prompt

async function measureGeneration(ctx: SuiteContext, lease: SidecarLease, key: CellKey, prompts: readonly Prompt[], baseline: GemmaBaseline, outputs: Outputs): Promise<void> {
  await withClients(ctx, lease, key, key.concurrency, async (clients) => {
    const steps = key.samplingSteps ?? 128;
    const streaming = key.streaming === true;
    await timedGenerate(clients[0] as Transport, prompts[0]?.prompt ?? 'Hello', Math.min(4, steps), streaming); // warm-up
    const responses: string[] = new Array<string>(prompts.length).fill('');
    const ttft: number[] = [];
    const gaps: number[] = [];
    let tokens = 0;
    const outcome = await datasetLoop(
      clients.map((c) => (i: number) => timedGenerate(c, (prompts[i] as Prompt).prompt, steps, streaming)),
      prompts.length,
      {
        windowMs: ctx.config.windowMs,
        stabilityPct: ctx.config.stabilityPct,
        signal: ctx.signal,
        onResult(i, result) {
          const timed = result as TimedGeneration;
          responses[i] = timed.reply.response;
          if (timed.ttftNs !== undefined) ttft.push(timed.ttftNs);
          gaps.push(...timed.gapsNs);
          tokens += timed.reply.stats.outputTokens ?? 0;
        },
      },
    );
    if (key.concurrency === 1 && outcome.abortedBy === undefined) outputs.set(`${steps}/${key.transport}/${key.family}/${streaming ? 'stream' : 'unary'}`, responses);
    const p50 = outcome.recorder.percentileUs(50);
    const inProcess = baseline.latencyP50UsBySteps.get(steps);
    const us = (v: number | null): number | null => (v === null ? null : v / 1000);
    ctx.emit(
      cellFromOutcome(key, outcome, {
        metrics: {
          ttft_p50_us: us(percentile(ttft, 50)),
          ttft_p99_us: us(percentile(ttft, 99)),
          itl_p50_us: us(percentile(gaps, 50)),
          itl_p99_us: us(percentile(gaps, 99)),
          tokens_per_s: outcome.durationNs > 0 ? (tokens * 1e9) / outcome.durationNs : null,
          output_tokens: tokens,
          overhead_pct: inProcess === undefined || key.concurrency !== 1 ? null : ((p50 - inProcess) / inProcess) * 100,
        },
        sidecar: lease.facts,
        crashed: await lostSidecar(lease, outcome),
      }),
    );
  });
}

function agreementCheck(baseline: GemmaBaseline, outputs: Outputs, prompts: readonly Prompt[]) {
  const mismatches: string[] = [];
  for (const [name, responses] of outputs) {
    const steps = Number(name.split('/')[0]);
    const reference = baseline.responsesBySteps.get(steps);
    responses.forEach((r, i) => {
      if (reference !== undefined && r !== reference[i]) mismatches.push(`${name} prompt ${prompts[i]?.id ?? i}`);
    });
  }
  return {
    name: 'gemma: agreement',
    ok: outputs.size > 0 && mismatches.length === 0,
    detail: outputs.size === 0 ? 'no transport completed a pass' : mismatches.length === 0 ? `greedy outputs identical in-process and over ${outputs.size} transport/mode passes` : `${mismatches.length} outputs differ from in-process, first: ${mismatches[0] ?? ''}`,
    data: { mismatches: mismatches.slice(0, 50) },
  };
}

export async function runGemmaSuite(ctx: SuiteContext): Promise<void> {
  const prompts = await loadPrompts(undefined, ctx.config.quick ? QUICK_PROMPTS : ctx.config.limit);
  const args = gemmaModelArgs(ctx.config);
  const list = sidecarTargets(ctx, 'gemma', args, false);
  const steps = ctx.config.samplingSteps;
  const scenarios = ctx.config.scenarios;
  const concurrency = modelConcurrency(ctx);
  const serverFractions = ctx.config.quick ? QUICK_SERVER_LOAD_FRACTIONS : SERVER_LOAD_FRACTIONS;
  const perTarget = (scenarios.includes('single-stream') ? steps.length * 2 : 0) + concurrency.length + (scenarios.includes('offline') ? 1 : 0) + (scenarios.includes('server') ? serverFractions.length : 0);
  ctx.progress.plan(steps.length + list.length * perTarget);

  const baseline = await measureGemmaBaseline(ctx, prompts, steps, args);
  const outputs: Outputs = new Map();
  const first = steps[0] ?? 16;
  const capacity = 1e6 / (baseline.latencyP50UsBySteps.get(first) ?? 1e6);
  for (const target of list) {
    if (ctx.signal.aborted) return;
    const base = { suite: 'gemma' as const, transport: target.transport, family: target.family, ...(target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup }) };
    try {
      await ctx.withSidecar(target, async (lease) => {
        if (scenarios.includes('single-stream')) {
          for (const s of steps) {
            for (const streaming of [false, true]) await measureGeneration(ctx, lease, { ...base, scenario: 'single-stream', concurrency: 1, samplingSteps: s, streaming }, prompts, baseline, outputs);
          }
        }
        for (const c of concurrency) await measureGeneration(ctx, lease, { ...base, scenario: 'concurrency', concurrency: c, samplingSteps: first, streaming: false }, prompts, baseline, outputs);
        if (scenarios.includes('offline')) await measureGeneration(ctx, lease, { ...base, scenario: 'offline', concurrency: prompts.length, samplingSteps: first, streaming: false }, prompts, baseline, outputs);
        for (const fraction of scenarios.includes('server') ? serverFractions : []) {
          let next = 0;
          await measureOpenCell(ctx, lease, {
            key: { ...base, scenario: 'server', concurrency: SERVER_CONNECTIONS, samplingSteps: first, streaming: false, targetRps: Math.max(0.1, Number((capacity * fraction).toFixed(2))), loadFraction: fraction },
            request: (client) => () => client.generate({ prompt: (prompts[next++ % prompts.length] as Prompt).prompt, samplingSteps: first }),
            durationMs: Math.max(serverDurationMs(ctx), ctx.config.quick ? 1200 : 8000),
            connections: 4,
          });
        }
      });
    } catch (error) {
      ctx.emit(failedCell({ ...base, scenario: 'single-stream', concurrency: 1, samplingSteps: first, streaming: false }, toHarnessError(error)));
    }
  }
  ctx.check(agreementCheck(baseline, outputs, prompts));
}

