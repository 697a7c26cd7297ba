/**
 * The echo suite: what the IPC itself costs. Every transport x family (x HTTP set-up) echoes
 * payloads of several sizes one at a time and at several concurrency levels, read against two
 * floors measured in the same run: the native C echo peer (the machine's IPC floor, with the
 * same framed client) and an in-process no-op (the harness's own per-request cost).
 */
import { Buffer } from 'node:buffer';
import { loadTransport } from '../../transports/registry.js';
import type { Transport } from '../../transports/types.js';
import { startNativePeer } from '../calibration/native-peer.js';
import { HarnessError, toHarnessError } from '../errors.js';
import { closedLoop } from '../load/closed-loop.js';
import { datasetLoop } from '../load/dataset-loop.js';
import type { CellKey } from '../results.js';
import { cellFromOutcome, failedCell } from './cell.js';
import type { SidecarLease, SuiteContext } from './context.js';
import { sidecarTargets } from './targets.js';
import { describeKey, loadOptions, lostSidecar, measureClosedCell, measureOpenCell, SERVER_CONNECTIONS, serverDurationMs, withClients } from './measure.js';

const CONCURRENCY_PAYLOAD_BYTES = 3072;
const OFFLINE_CONNECTIONS = 4;
const OFFLINE_DEPTH = 8;

function payloadOf(bytes: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + 7) & 0xff);
}

function echoCheck(expected: Uint8Array): (result: unknown) => void {
  const want = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  return (result) => {
    const got = result as Uint8Array;
    if (got.length !== want.length || !want.equals(Buffer.from(got.buffer, got.byteOffset, got.byteLength))) {
      throw new HarnessError('MISMATCH', `Expected the echo of ${want.length} bytes back, got ${got.length} different bytes`);
    }
  };
}

/** The cells one echo peer gets: single-stream over the payloads, the concurrency sweep at 3 KiB. */
function echoKeys(ctx: SuiteContext, base: Pick<CellKey, 'transport' | 'family' | 'httpSetup'>): CellKey[] {
  const keys: CellKey[] = [];
  const scenarios = ctx.config.scenarios;
  if (scenarios.includes('single-stream')) {
    for (const payloadBytes of ctx.config.payloadBytes) keys.push({ suite: 'echo', scenario: 'single-stream', ...base, payloadBytes, concurrency: 1 });
  }
  if (scenarios.includes('concurrency')) {
    for (const concurrency of ctx.config.concurrency) {
      keys.push({ suite: 'echo', scenario: 'concurrency', ...base, payloadBytes: CONCURRENCY_PAYLOAD_BYTES, concurrency });
    }
  }
  if (scenarios.includes('server')) {
    for (const targetRps of ctx.config.ratesRps) {
      keys.push({ suite: 'echo', scenario: 'server', ...base, payloadBytes: CONCURRENCY_PAYLOAD_BYTES, concurrency: SERVER_CONNECTIONS, targetRps });
    }
  }
  if (scenarios.includes('offline')) {
    keys.push({ suite: 'echo', scenario: 'offline', ...base, payloadBytes: CONCURRENCY_PAYLOAD_BYTES, concurrency: OFFLINE_CONNECTIONS * OFFLINE_DEPTH });
  }
  return keys;
}

async function measureEchoKeys(ctx: SuiteContext, lease: SidecarLease, keys: readonly CellKey[]): Promise<void> {
  for (const key of keys) {
    const payload = payloadOf(key.payloadBytes ?? 0);
    const check = echoCheck(payload);
    if (key.scenario === 'server' && key.targetRps !== undefined) {
      await measureOpenCell(ctx, lease, { key: { ...key, targetRps: key.targetRps }, request: (client) => () => client.echo(payload), check, durationMs: serverDurationMs(ctx) });
    } else if (key.scenario === 'offline') {
      await measureOfflineEcho(ctx, lease, key, payload, check);
    } else {
      await measureClosedCell(ctx, lease, { key, request: (client) => () => client.echo(payload), check });
    }
  }
}

/**
 * Offline: a fixed batch of requests released at once, OFFLINE_DEPTH in flight on each of
 * OFFLINE_CONNECTIONS connections; throughput is what it took to get through all of them.
 */
async function measureOfflineEcho(ctx: SuiteContext, lease: SidecarLease, key: CellKey, payload: Uint8Array, check: (r: unknown) => void): Promise<void> {
  await withClients(ctx, lease, key, OFFLINE_CONNECTIONS, async (clients) => {
    const workers = clients.flatMap((c) => Array.from({ length: OFFLINE_DEPTH }, () => () => c.echo(payload)));
    const count = ctx.config.quick ? 2000 : 20_000;
    const outcome = await datasetLoop(workers, count, { windowMs: ctx.config.windowMs, stabilityPct: ctx.config.stabilityPct, signal: ctx.signal, onResult: (_i, r) => check(r) });
    ctx.emit(cellFromOutcome(key, outcome, { sidecar: lease.facts, crashed: await lostSidecar(lease, outcome) }));
  });
}

async function measureNoOp(ctx: SuiteContext): Promise<void> {
  const key: CellKey = { suite: 'echo', scenario: 'single-stream', transport: 'no-op', family: 'in-process', payloadBytes: 0, concurrency: 1 };
  ctx.progress.start(describeKey(key));
  const noop = (): Promise<Uint8Array> => Promise.resolve(new Uint8Array(0));
  ctx.emit(cellFromOutcome(key, await closedLoop([noop], loadOptions(ctx))));
}

async function measureNativePeer(ctx: SuiteContext, family: 'unix' | 'tcp'): Promise<void> {
  const keys = echoKeys(ctx, { transport: 'native-peer', family });
  let peer;
  try {
    peer = await startNativePeer(family);
  } catch (error) {
    for (const key of keys) ctx.emit(failedCell(key, toHarnessError(error)));
    return;
  }
  try {
    const factory = await loadTransport('framed');
    const lease: SidecarLease = {
      transport: 'framed',
      family,
      facts: { ...peer.ready },
      connect: async (count) => {
        const clients: Transport[] = [];
        for (let i = 0; i < count; i++) clients.push(await factory({ address: peer.address, timeoutMs: ctx.config.timeoutMs, maxFrameBytes: 64 * 1024 * 1024 }));
        return clients;
      },
      crashed: async () => peer.hasExited(),
    };
    await measureEchoKeys(ctx, lease, keys);
  } finally {
    await peer.stop();
  }
}


export async function runEchoSuite(ctx: SuiteContext): Promise<void> {
  const targets = sidecarTargets(ctx, 'echo', [], true);
  const calibrate = ctx.config.calibration && ctx.config.connect === undefined;
  const perPeer = echoKeys(ctx, { transport: 'no-op', family: 'unix' }).length;
  ctx.progress.plan(1 + perPeer * (targets.length + (calibrate ? ctx.config.families.length : 0)));
  await measureNoOp(ctx);
  if (calibrate) for (const family of ctx.config.families) await measureNativePeer(ctx, family);
  for (const target of targets) {
    if (ctx.signal.aborted) return;
    const keys = echoKeys(ctx, { transport: target.transport, family: target.family, ...(target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup }) });
    try {
      await ctx.withSidecar(target, (lease) => measureEchoKeys(ctx, lease, keys));
    } catch (error) {
      const e = toHarnessError(error);
      ctx.progress.log(`sidecar for ${target.transport}/${target.family} failed: ${e.code}: ${e.message.split('\n')[0] ?? ''}`);
      for (const key of keys) if (!ctx.signal.aborted) ctx.emit(failedCell(key, e));
    }
  }
}

