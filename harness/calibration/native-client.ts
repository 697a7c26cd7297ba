/**
 * Driving the native echo client (echo-client.c): one process, one connection, held for a group;
 * each block is one command on its stdin and one line of latencies back. While it runs a block
 * the Node side only waits, so the C client has the machine as a Node client would.
 */
import { execa } from 'execa';
import { formatAddress, type Address } from '../../transports/address.js';
import { HarnessError, isHarnessErrorCode } from '../../transports/errors.js';
import { lineReader } from '../lines.js';
import { newBlock, type BlockResult } from '../load/blocks.js';
import { countError } from '../load/outcome.js';
import { buildNative } from './native-peer.js';

export interface NativeClient {
  readonly pid: number;
  /** One block of echo round trips; failures come back in the block (and end the client). */
  block(plan: { payloadBytes: number; durationMs: number; minRequests: number; warmup: number }): Promise<BlockResult>;
  close(): Promise<void>;
}

export async function startNativeClient(address: Address, timeoutMs: number): Promise<NativeClient> {
  if (address.family === 'tcp' && address.host.includes(':')) throw new HarnessError('USAGE', `The native client speaks IPv4 only, got ${formatAddress(address)}`);
  const program = await buildNative('echo-client');
  // Its own process group, like the sidecars: a Ctrl-C in the terminal reaches the harness, which ends
  // the run in order; the client ends itself when its stdin closes, whatever happens to the harness.
  const child = execa(program, [formatAddress(address), String(timeoutMs)], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false, cleanup: true, detached: true });
  child.catch(() => undefined); // its end is seen through the lines below
  const lines = lineReader(child.stdout!);
  const nextLine = async (limitMs: number): Promise<string | undefined> => {
    const next = await lines.next(limitMs);
    return 'line' in next ? next.line : 'timedOut' in next ? 'error TIMEOUT the native client gave no answer in time' : undefined;
  };
  const first = await nextLine(10_000);
  const ready = parseError(first);
  if (ready !== undefined || first === undefined || !first.startsWith('{')) {
    child.kill('SIGKILL');
    throw ready ?? new HarnessError('CONNECT_FAILED', `The native client did not start: ${first ?? 'it exited'}`);
  }
  return {
    pid: child.pid ?? 0,
    async block(plan) {
      const block = newBlock();
      const started = process.hrtime.bigint();
      child.stdin?.write(`block ${plan.payloadBytes} ${plan.minRequests} ${Math.round(plan.durationMs * 1000)} ${plan.warmup}\n`);
      let line = await nextLine(plan.durationMs + timeoutMs * (plan.minRequests + plan.warmup + 1));
      if (line?.startsWith('partial ') === true) {
        record(block, line); // what was measured before the failure is kept
        line = await nextLine(1000);
      }
      const error = parseError(line);
      if (error !== undefined || line === undefined || !line.startsWith('ok ')) {
        const reason = error ?? new HarnessError('SIDECAR_CLOSED', 'The native client exited');
        countError(block, reason);
        block.abortedBy ??= reason; // whatever the code, the client process ends with it
        child.kill('SIGKILL');
        if (block.durationNs === 0) block.durationNs = Number(process.hrtime.bigint() - started);
        return block;
      }
      record(block, line);
      return block;
    },
    async close() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await child;
      clearTimeout(timer);
    },
  };
}

/** Add a `ok|partial N NS...` line's latencies; the block's time is the sum of its round trips (its own clock, not the pipe's). */
function record(block: BlockResult, line: string): void {
  const values = line.split(' ');
  const count = Number(values[1]);
  for (let i = 0; i < count; i++) block.latenciesNs.push(Number(values[i + 2]));
  block.requests += count;
  block.durationNs += block.latenciesNs.reduce((a, b) => a + b, 0);
}

function parseError(line: string | undefined): HarnessError | undefined {
  if (line === undefined || !line.startsWith('error ')) return undefined;
  const [, code = 'INTERNAL', ...rest] = line.split(' ');
  return new HarnessError(isHarnessErrorCode(code) ? code : 'INTERNAL', `native client: ${rest.join(' ')}`);
}
