/**
 * Where HTTP and gRPC time goes (issue 15), as a ladder per protocol, from cells of one
 * interleaved group (so every step is read round by round and the machine's drift cancels):
 *
 *   protocol floor           framed, our own wire
 *   the lean set-up          the protocol's floor in Python and Node: HTTP's `lean` stack with the fastest
 *                            client measured on it; gRPC's `lean-http2` client with the fastest server under it
 *   + the real server stack  the idea's server (gunicorn-gthread; grpcio's thread pool) with that same client
 *   + the real client        ... and the client most deploy (undici; grpc-js)
 *
 * Each step gives its ratio to framed and what it adds over the step before, both with their 95%
 * intervals, and, in a model suite, that cost as a share of the model's own time. A ladder that
 * lacks a step is left out with the reason. Pure: reads cells, never transports.
 */
import { seriesName, type CellResult, type RunResult } from '../harness/results.js';
import { medianInterval, perRoundDifferences, type Interval } from '../harness/stats/intervals.js';
import { figureByRound, sameRoundRatio } from './floors.js';
import { formatBytes } from './units.js';

export type LadderProtocol = 'http' | 'grpc';

interface ProtocolSpec {
  readonly transport: 'http-json' | 'grpc';
  /** Whether a cell is a lean set-up: the lean part (the server or the client) and whatever else measured fastest. */
  readonly lean: (c: CellResult) => boolean;
  readonly leanWhat: string;
  /** The real server stacks, in order of preference (the idea's first). */
  readonly realServers: readonly string[];
  readonly realClient: string;
  readonly flags: string;
}

const PROTOCOLS: Readonly<Record<LadderProtocol, ProtocolSpec>> = {
  http: { transport: 'http-json', lean: (c) => c.httpStack === 'lean', leanWhat: 'the lean stack', realServers: ['gunicorn-gthread', 'uvicorn', 'gunicorn-sync'], realClient: 'undici', flags: '--http-stacks gunicorn-gthread,lean --http-clients undici,lean' },
  grpc: { transport: 'grpc', lean: (c) => c.grpcClient === 'lean-http2', leanWhat: 'the lean-http2 client', realServers: ['thread'], realClient: 'grpc-js', flags: '--grpc-servers thread,aio-uvloop --grpc-clients grpc-js,lean-http2' },
};

export interface LadderStep {
  /** `protocol floor`, `the lean set-up`, `+ the real server stack`, `+ the real client library`. */
  readonly step: string;
  /** The cell's series, as in every legend: `http-json (lean, node-http)`. */
  readonly series: string;
  readonly p50Us: number | undefined;
  /** This step's figure over framed's, round by round. */
  readonly ratio?: Interval;
  /** What this step adds over the step before, round by round (µs). */
  readonly added?: Interval;
  /** `added` as a share of the model's own time (model suites). */
  readonly addedPct?: number;
  /** Why the step adds nothing of its own (it is the same set-up as the step before). */
  readonly note?: string;
}

export interface Ladder {
  readonly suite: string;
  readonly protocol: LadderProtocol;
  readonly family: string;
  /** `3 KiB`, `batch 1`. */
  readonly setting: string;
  readonly trial?: number;
  readonly steps: readonly LadderStep[];
  /** Why there is no ladder, when there is none. */
  readonly leftOut?: string;
}

const figure = (c: CellResult): number | undefined => c.roundsP50Us ?? c.latency?.p50Us;
const serverOf = (c: CellResult): string | undefined => c.httpStack ?? c.grpcServer;
const clientOf = (c: CellResult): string | undefined => c.httpClient ?? c.grpcClient;

/** One-at-a-time groups, each with its cells; echo at 3 KiB when measured (else its smallest payload). */
function groupsOf(result: RunResult): CellResult[][] {
  const cells = result.cells.filter((c) => c.status === 'ok' && c.scenario === 'single-stream' && c.group !== undefined && c.rounds !== undefined);
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) groups.set(`${c.suite}/${c.trial ?? 1}/${c.group}`, [...(groups.get(`${c.suite}/${c.trial ?? 1}/${c.group}`) ?? []), c]);
  const payloadOf = (g: CellResult[]): number | undefined => g.find((c) => c.payloadBytes !== undefined)?.payloadBytes;
  return [...groups.values()].filter((g) => {
    const suite = g[0]?.suite;
    const payloads = [...new Set(cells.filter((c) => c.suite === suite && c.payloadBytes !== undefined).map((c) => c.payloadBytes as number))];
    const chosen = payloads.includes(3072) ? 3072 : Math.min(...payloads);
    return payloadOf(g) === undefined || payloadOf(g) === chosen;
  });
}

function step(name: string, cell: CellResult, framed: CellResult, before: CellResult | undefined, modelUs: number | undefined): LadderStep {
  const ratio = cell === framed ? undefined : sameRoundRatio(cell, framed);
  const added = before === undefined ? undefined : medianInterval(perRoundDifferences(figureByRound(cell), figureByRound(before)));
  const pct = added === undefined || modelUs === undefined || modelUs <= 0 ? undefined : (added.estimate / modelUs) * 100;
  return { step: name, series: seriesName(cell), p50Us: figure(cell), ...(ratio === undefined ? {} : { ratio }), ...(added === undefined ? {} : { added }), ...(pct === undefined ? {} : { addedPct: pct }) };
}

/** The ladder of `protocol` in one group, or the reason it cannot be built from it. */
export function ladderOf(cells: readonly CellResult[], protocol: LadderProtocol): Pick<Ladder, 'steps' | 'leftOut'> {
  const spec = PROTOCOLS[protocol];
  const framed = cells.find((c) => c.transport === 'framed');
  const own = cells.filter((c) => c.transport === spec.transport && serverOf(c) !== undefined && clientOf(c) !== undefined);
  if (framed === undefined) return { steps: [], leftOut: 'framed, the protocol floor, was not measured in the same rounds' };
  if (own.length === 0) return { steps: [], leftOut: `no ${spec.transport} cell names its server and client (results from before issue 15, or --connect)` };
  const ratioOf = (c: CellResult): number => sameRoundRatio(c, framed)?.estimate ?? Number.POSITIVE_INFINITY;
  const fastest = [...own].filter(spec.lean).sort((a, b) => ratioOf(a) - ratioOf(b))[0];
  if (fastest === undefined) return { steps: [], leftOut: `needs ${spec.leanWhat} measured in the same rounds: run with ${spec.flags} (--quick does, for the echo and cifar suites)` };
  const real = spec.realServers.find((s) => own.some((c) => serverOf(c) === s));
  const find = (server: string | undefined, client: string | undefined): CellResult | undefined => own.find((c) => serverOf(c) === server && clientOf(c) === client);
  const realStack = find(real, clientOf(fastest));
  const realClient = find(real, spec.realClient);
  if (real === undefined || realStack === undefined || realClient === undefined) {
    const missing = real === undefined ? `a real server stack (${spec.realServers.join(' or ')})` : realStack === undefined ? `${real} with ${clientOf(fastest)}` : `${real} with ${spec.realClient}`;
    return { steps: [], leftOut: `needs ${missing} in the same rounds as the lean set-up (${seriesName(fastest)}): run with ${spec.flags} (--quick does, for the echo and cifar suites)` };
  }
  const model = cells.find((c) => c.transport === 'in-process');
  const modelUs = model === undefined ? undefined : (model.overhead?.computeUs ?? figure(model));
  const steps: LadderStep[] = [step('protocol floor', framed, framed, undefined, modelUs), step('the lean set-up', fastest, framed, framed, modelUs)];
  // A step whose set-up is the one before adds nothing of its own: said, not shown as a zero.
  const unchanged = (name: string, cell: CellResult, why: string): LadderStep => ({ ...step(name, cell, framed, undefined, modelUs), note: why });
  steps.push(realStack === fastest ? unchanged('+ the real server stack', realStack, `the lean set-up already runs ${real}`) : step('+ the real server stack', realStack, framed, fastest, modelUs));
  steps.push(realClient === realStack ? unchanged('+ the real client library', realClient, `the fastest client already is ${spec.realClient}`) : step('+ the real client library', realClient, framed, realStack, modelUs));
  return { steps };
}

function settingOf(cells: readonly CellResult[]): string {
  const c = cells[0];
  if (c === undefined) return '';
  if (c.payloadBytes !== undefined) return formatBytes(c.payloadBytes);
  return c.batch === undefined ? '' : `batch ${c.batch}`;
}

/** Every ladder the run supports, per suite, group and protocol, in the order measured; a protocol not measured at all has none. */
export function laddersFor(result: RunResult): Ladder[] {
  const out: Ladder[] = [];
  for (const cells of groupsOf(result)) {
    const first = cells[0] as CellResult;
    const family = cells.find((c) => c.family !== 'in-process')?.family ?? first.family;
    for (const protocol of ['http', 'grpc'] as const) {
      if (!cells.some((c) => c.transport === PROTOCOLS[protocol].transport)) continue;
      out.push({ suite: first.suite, protocol, family, setting: settingOf(cells), ...(first.trial === undefined ? {} : { trial: first.trial }), ...ladderOf(cells, protocol) });
    }
  }
  return out;
}
