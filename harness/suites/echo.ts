/**
 * The echo suite: what the IPC itself costs. For each socket family and load shape, one group
 * interleaves every transport with its floors, so each ratio is taken in the same moments:
 *   - `native-peer`: our framed client against a C echo server (the machine's IPC floor);
 *   - one request at a time, also the rest of the 2x2 of {Node, C} client x {C, Python} server:
 *     `native-pair` (C client, C server), `native-client` (C client, the Python framed sidecar),
 *     plus `lean-node` (the leanest Node client, on the Python framed and msgpack sidecars) and
 *     `no-op` (the harness's own cost per request).
 * http-json runs once per server stack and grpc once per server (a sidecar each), and each of
 * those once per client library (an arm each on the same sidecar): the report's ladder
 * (reports/ladder.ts) splits their cost from these same rounds.
 */
import { Buffer } from 'node:buffer';
import type { Family } from '../../transports/address.js';
import type { Transport } from '../../transports/types.js';
import { startNativePeer } from '../calibration/native-peer.js';
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import { openClients } from '../leases.js';
import type { OnResult } from '../load/blocks.js';
import type { CellKey, FigureKind } from '../results.js';
import type { Sidecar } from '../sidecar.js';
import { leanArm, nativeClientArm, noOpArm, SERVER_CONNECTIONS, transportArm, type ClientSource, type Server, type Shape } from './arms.js';
import type { SidecarLease, SidecarTarget, SuiteContext } from './context.js';
import type { GroupArm } from './group.js';
import { clientChoices, clientSource, sidecarTargets, targetKeyFields } from './targets.js';

const CONCURRENCY_PAYLOAD_BYTES = 3072;
const OFFLINE_CONNECTIONS = 4;
const OFFLINE_DEPTH = 8;
/** Offline blocks: this many echoes pushed through OFFLINE_CONNECTIONS x OFFLINE_DEPTH in flight. */
const OFFLINE_BLOCK_REQUESTS = 128;

export function payloadOf(bytes: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + 7) & 0xff);
}

function echoCheck(expected: Uint8Array): OnResult {
  const want = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  return (result) => {
    const got = result as Uint8Array;
    if (got.length !== want.length || !want.equals(Buffer.from(got.buffer, got.byteOffset, got.byteLength))) {
      throw new HarnessError('MISMATCH', `Expected the echo of ${want.length} bytes back, got ${got.length} different bytes`);
    }
  };
}

/** One load shape of the echo matrix; every transport and floor of a family runs it in one group. */
interface EchoGroup {
  readonly scenario: CellKey['scenario'];
  readonly payloadBytes: number;
  readonly concurrency: number;
  readonly targetRps?: number;
}

function echoGroups(ctx: SuiteContext): EchoGroup[] {
  const s = ctx.config.scenarios;
  const payload = CONCURRENCY_PAYLOAD_BYTES;
  return [
    ...(s.includes('single-stream') ? ctx.config.payloadBytes.map((payloadBytes) => ({ scenario: 'single-stream' as const, payloadBytes, concurrency: 1 })) : []),
    ...(s.includes('concurrency') ? ctx.config.concurrency.map((concurrency) => ({ scenario: 'concurrency' as const, payloadBytes: payload, concurrency })) : []),
    ...(s.includes('server') ? ctx.config.ratesRps.map((targetRps) => ({ scenario: 'server' as const, payloadBytes: payload, concurrency: SERVER_CONNECTIONS, targetRps })) : []),
    ...(s.includes('offline') ? [{ scenario: 'offline' as const, payloadBytes: payload, concurrency: OFFLINE_CONNECTIONS * OFFLINE_DEPTH }] : []),
  ];
}

function shapeOf(group: EchoGroup): Shape {
  if (group.scenario === 'server') return { kind: 'open', workers: SERVER_CONNECTIONS, ratePerS: group.targetRps ?? 1 };
  if (group.scenario === 'offline') return { kind: 'items', workers: OFFLINE_CONNECTIONS, depth: OFFLINE_DEPTH, itemsFor: () => Array.from({ length: OFFLINE_BLOCK_REQUESTS }, (_, i) => i) };
  return { kind: 'closed', workers: group.concurrency };
}

/** Many in flight measure throughput: compared on time per request (1 / throughput); one at a time and a fixed rate on the median. */
const figureOf = (group: EchoGroup): FigureKind => (group.scenario === 'offline' || group.scenario === 'concurrency' ? 'time-per-request' : 'p50');

/** A native C echo peer per family, started for the suite; a start failure fails its rows. */
type Peers = ReadonlyMap<Family, Sidecar | HarnessError>;

async function withPeers<T>(families: readonly Family[], body: (peers: Peers) => Promise<T>): Promise<T> {
  const peers = new Map<Family, Sidecar | HarnessError>();
  try {
    for (const family of families) peers.set(family, await startNativePeer(family).catch((e: unknown) => toHarnessError(e)));
    return await body(peers);
  } finally {
    await Promise.all([...peers.values()].map((p) => (p instanceof HarnessError ? undefined : p.stop())));
  }
}

/** The C echo peer, for the C client and for our framed client. */
function peerServer(ctx: SuiteContext, peer: Sidecar): Server & ClientSource {
  return {
    live: () => Promise.resolve(peer.address),
    facts: { ...peer.ready },
    crashed: async () => peer.hasExited(),
    connect: (n) => openClients('framed', peer.address, ctx.config, n),
  };
}

/** Every arm of one group on one family: floors first, then the transports in registry order. */
function groupArms(ctx: SuiteContext, group: EchoGroup, family: Family, targets: readonly SidecarTarget[], leases: readonly (SidecarLease | HarnessError)[], peers: Peers): GroupArm[] {
  const payload = payloadOf(group.payloadBytes);
  const check = echoCheck(payload);
  const shape = shapeOf(group);
  const base = { suite: 'echo' as const, scenario: group.scenario, family, payloadBytes: group.payloadBytes, concurrency: group.concurrency, ...(group.targetRps === undefined ? {} : { targetRps: group.targetRps }) };
  const key = (transport: CellKey['transport'], extra: Partial<CellKey> = {}): CellKey => ({ ...base, transport, ...extra });
  /** An arm on `server`, or one that fails with why the server is not there. */
  const on = (server: Server | HarnessError, open: (s: Server) => GroupArm['open']): GroupArm['open'] => (server instanceof HarnessError ? () => Promise.reject(server) : open(server));
  const echo = { shape, request: (c: Transport) => c.echo(payload), onResult: check };

  const arms: GroupArm[] = [];
  const single = group.scenario === 'single-stream';
  const peerOrError = peers.get(family);
  const peer = peerOrError instanceof HarnessError || peerOrError === undefined ? peerOrError : peerServer(ctx, peerOrError);
  const nativePair = key('native-pair');
  const nativePeer = key('native-peer');
  if (peer !== undefined) {
    if (single) arms.push({ key: nativePair, open: on(peer, (s) => nativeClientArm(ctx, s, group.payloadBytes)) });
    arms.push({ key: nativePeer, ...(single ? { floor: nativePair } : {}), open: transportArm(ctx, peer, echo) });
  }
  const floor = peer === undefined ? {} : { floor: nativePeer };
  const leaseOf = (transport: string): SidecarLease | HarnessError | undefined => leases[targets.findIndex((t) => t.transport === transport && t.family === family)];
  if (single && peer !== undefined) {
    const framed = leaseOf('framed');
    const msgpack = leaseOf('msgpack');
    if (framed !== undefined) arms.push({ key: key('native-client'), floor: nativePair, open: on(framed, (s) => nativeClientArm(ctx, s, group.payloadBytes)) });
    if (framed !== undefined) arms.push({ key: key('lean-node', { wire: 'framed' }), ...floor, open: on(framed, (s) => leanArm(ctx, s, 'framed', payload, check)) });
    if (msgpack !== undefined) arms.push({ key: key('lean-node', { wire: 'msgpack' }), ...floor, open: on(msgpack, (s) => leanArm(ctx, s, 'msgpack', payload, check)) });
    if (family === ctx.config.families[0]) arms.push({ key: { ...key('no-op'), family: 'in-process' }, open: noOpArm(ctx, payload) });
  }
  targets.forEach((target, i) => {
    if (target.family !== family && ctx.config.connect === undefined) return;
    const lease = leases[i] as SidecarLease | HarnessError;
    // Every client library is an arm on the same sidecar: the same rounds as the other clients and servers.
    for (const choice of clientChoices(ctx, target)) {
      const k = key(target.transport, { ...targetKeyFields(ctx, target), ...choice.key });
      const source = lease instanceof HarnessError ? lease : clientSource(lease, choice);
      arms.push({ key: lease instanceof HarnessError ? k : { ...k, family: lease.family }, ...floor, open: transportArm(ctx, source, echo) });
    }
  });
  return arms;
}

function label(group: EchoGroup, family: Family): string {
  const what = group.scenario === 'single-stream' ? `${group.payloadBytes} B` : group.scenario === 'server' ? `${group.targetRps}/s` : `c=${group.concurrency}`;
  return `echo ${group.scenario} ${what} ${family}`;
}

export async function runEchoSuite(ctx: SuiteContext): Promise<void> {
  const targets = sidecarTargets(ctx, 'echo', true);
  const calibrate = ctx.config.calibration && ctx.config.connect === undefined;
  const families = ctx.config.connect === undefined ? ctx.config.families : [targets[0]?.family ?? 'unix'];
  const groups = echoGroups(ctx);
  const peerFamilies = calibrate ? families : [];
  await ctx.withSidecars(targets, async (leases) => {
    leases.forEach((l, i) => {
      if (l instanceof HarnessError) ctx.progress.log(`sidecar for ${targets[i]?.transport}/${targets[i]?.family} failed: ${l.code}: ${l.message.split('\n')[0] ?? ''}`);
    });
    const plansWith = (peers: Peers): { family: Family; group: EchoGroup; arms: GroupArm[] }[] =>
      families.flatMap((family) => groups.map((group) => ({ family, group, arms: groupArms(ctx, group, family, targets, leases, peers) })));
    // The count depends only on which families have a peer, so it is taken before any peer starts:
    // counting a run's cells (harness/plan.ts) stops at plan() and starts no C process.
    const notYet = new HarnessError('ABORTED', 'not started: counting cells');
    ctx.progress.plan(plansWith(new Map(peerFamilies.map((f) => [f, notYet]))).reduce((n, p) => n + p.arms.length, 0));
    await withPeers(peerFamilies, async (peers) => {
      for (const { family, group, arms } of plansWith(peers)) {
        if (ctx.signal.aborted) return;
        // An open-loop generator keeps to its schedule by spinning between arrivals: never on the servers' core.
        const pinned = group.scenario === 'server' ? ('split' as const) : true;
        await ctx.measure(arms, { label: label(group, family), figure: figureOf(group), minRounds: ctx.config.minRounds, maxRounds: ctx.config.maxRounds, pinned, strictFloors: group.scenario === 'single-stream' });
      }
    });
  });
}
