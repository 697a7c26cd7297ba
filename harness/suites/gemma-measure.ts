/** One generation request, timed from the client: end to end, time to first token, gaps between tokens. */
import type { GenerateReply, Transport } from '../../transports/types.js';
import { nowNs } from '../load/outcome.js';

export interface TimedGeneration {
  readonly reply: GenerateReply;
  /** Client-side time to the first streamed text; for unary calls the sidecar's own figure. */
  readonly ttftNs: number | undefined;
  /** Client-side gaps between streamed pieces of text (empty for unary calls). */
  readonly gapsNs: number[];
}

export async function timedGenerate(client: Transport, prompt: string, samplingSteps: number, streaming: boolean): Promise<TimedGeneration> {
  const params = { prompt, samplingSteps };
  if (!streaming) {
    const reply = await client.generate(params);
    return { reply, ttftNs: reply.stats.ttftNs, gapsNs: [] };
  }
  const t0 = nowNs();
  let last: bigint | undefined;
  let ttftNs: number | undefined;
  const gapsNs: number[] = [];
  const reply = await client.generateStream(params, () => {
    const now = nowNs();
    if (last === undefined) ttftNs = Number(now - t0);
    else gapsNs.push(Number(now - last));
    last = now;
  });
  return { reply, ttftNs, gapsNs };
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}
