/** The gemma in-process baseline: the same sampler called directly, on the same prompts and lengths. */
import type { Prompt } from '../../datasets/prompts.js';
import type { ResolvedConfig } from '../config.js';
import { newOutcome } from '../load/outcome.js';
import { cellFromOutcome } from './cell.js';
import type { SuiteContext } from './context.js';
import { percentile } from './gemma-measure.js';
import { runInProcess } from './inprocess.js';

interface RunJson {
  readonly steps: number;
  readonly results: { response: string; latency_ns: number; ttft_ns: number | null; gaps_ns: number[]; output_tokens: number }[];
}

export interface GemmaBaseline {
  readonly latencyP50UsBySteps: ReadonlyMap<number, number>;
  readonly responsesBySteps: ReadonlyMap<number, readonly string[]>;
}

/** The model flags shared by the sidecars and the in-process run; quick runs use the tiny config. */
export function gemmaModelArgs(config: ResolvedConfig): string[] {
  const chosen = config.sidecarArgs.includes('--config') || config.sidecarArgs.includes('--checkpoint');
  return config.quick && !chosen ? ['--config', 'tiny', '--random-init'] : [];
}

export async function measureGemmaBaseline(ctx: SuiteContext, prompts: readonly Prompt[], steps: readonly number[], args: readonly string[]): Promise<GemmaBaseline> {
  ctx.progress.start(`gemma in-process baseline (${prompts.length} prompts, steps ${steps.join(',')})`);
  const raw = (await runInProcess(
    ['--model', 'gemma', '--prompts', '{input}', '--sampling-steps', steps.join(','), '--device', ctx.config.device, ...args, ...ctx.config.sidecarArgs],
    { name: 'prompts.json', bytes: new TextEncoder().encode(JSON.stringify(prompts.map((p) => p.prompt))) },
    60 * 60_000,
  )) as { info: Record<string, unknown>; runs: RunJson[] };
  const latency = new Map<number, number>();
  const responses = new Map<number, string[]>();
  for (const run of raw.runs) {
    const outcome = newOutcome();
    let tokens = 0;
    for (const r of run.results) {
      outcome.recorder.record(r.latency_ns);
      outcome.durationNs += r.latency_ns;
      tokens += r.output_tokens;
    }
    outcome.requests = run.results.length;
    const ttft = run.results.flatMap((r) => (r.ttft_ns === null ? [] : [r.ttft_ns]));
    const gaps = run.results.flatMap((r) => r.gaps_ns);
    const us = (v: number | null): number | null => (v === null ? null : v / 1000);
    latency.set(run.steps, outcome.recorder.percentileUs(50));
    responses.set(run.steps, run.results.map((r) => r.response));
    ctx.emit(
      cellFromOutcome({ suite: 'gemma', scenario: 'single-stream', transport: 'in-process', family: 'in-process', concurrency: 1, samplingSteps: run.steps, streaming: true }, outcome, {
        metrics: {
          ttft_p50_us: us(percentile(ttft, 50)),
          ttft_p99_us: us(percentile(ttft, 99)),
          itl_p50_us: us(percentile(gaps, 50)),
          itl_p99_us: us(percentile(gaps, 99)),
          tokens_per_s: (tokens * 1e9) / Math.max(1, outcome.durationNs),
          output_tokens: tokens,
        },
        sidecar: raw.info,
      }),
    );
  }
  return { latencyP50UsBySteps: latency, responsesBySteps: responses };
}
