/**
 * Which sidecars a suite runs, and which client libraries it speaks to each: every chosen
 * transport x family x server (http-json's stack, grpc's server), in registry order; a client
 * library is an arm on the same sidecar, so every client is measured in the same rounds as the
 * others and as the servers (issue 15).
 */
import { formatAddress, parseAddress } from '../../transports/address.js';
import { TRANSPORT_NAMES, type GrpcServer, type HttpStack, type Transport, type TransportOptions } from '../../transports/types.js';
import type { ResolvedConfig } from '../config.js';
import { defaultClients } from '../leases.js';
import type { CellKey } from '../results.js';
import type { ClientSource } from './arms.js';
import type { SidecarLease, SidecarTarget, SuiteContext } from './context.js';

/** The stack a suite that measures one runs: the idea's keep-alive stack when chosen, else the first. */
function preferredStack(config: ResolvedConfig): HttpStack {
  return config.httpStacks.includes('gunicorn-gthread') ? 'gunicorn-gthread' : (config.httpStacks[0] ?? 'gunicorn-gthread');
}

function preferredServer(config: ResolvedConfig): GrpcServer {
  return config.grpcServers.includes('thread') ? 'thread' : (config.grpcServers[0] ?? 'thread');
}

/**
 * `allServers`: the echo and cifar suites measure every server stack and client library; the
 * other model suites, whose request cost dwarfs the stack's, measure one of each (the idea's when
 * chosen). With --connect there is one server, set up however it is, on whatever family its
 * address has: one target per transport.
 */
export function sidecarTargets(ctx: SuiteContext, model: SidecarTarget['model'], allServers: boolean): SidecarTarget[] {
  const { config } = ctx;
  const connected = config.connect !== undefined;
  const families = config.connect === undefined ? config.families : [parseAddress(config.connect).family];
  const targets: SidecarTarget[] = [];
  for (const transport of TRANSPORT_NAMES.filter((t) => config.transports.includes(t))) {
    const servers: Pick<SidecarTarget, 'httpStack' | 'grpcServer'>[] =
      connected || (transport !== 'http-json' && transport !== 'grpc')
        ? [{}]
        : transport === 'http-json'
          ? (allServers ? config.httpStacks : [preferredStack(config)]).map((httpStack) => ({ httpStack }))
          : (allServers ? config.grpcServers : [preferredServer(config)]).map((grpcServer) => ({ grpcServer }));
    for (const family of families) for (const server of servers) targets.push({ model, transport, family, ...server });
  }
  return targets;
}

/**
 * What tells a target's cells apart beyond transport and family: its server (or the address
 * measured under --connect) and the client library its lease opens by default.
 */
export function targetKeyFields(ctx: SuiteContext, target: SidecarTarget): Pick<CellKey, 'httpStack' | 'httpClient' | 'grpcServer' | 'grpcClient' | 'connect'> {
  const clients = defaultClients(ctx.config);
  const client = target.transport === 'http-json' ? { httpClient: clients.httpClient } : target.transport === 'grpc' ? { grpcClient: clients.grpcClient } : {};
  if (ctx.config.connect !== undefined) return { connect: formatAddress(parseAddress(ctx.config.connect)), ...client };
  return { ...(target.httpStack === undefined ? {} : { httpStack: target.httpStack }), ...(target.grpcServer === undefined ? {} : { grpcServer: target.grpcServer }), ...client };
}

/** One client library of a target: the options that choose it and the key fields that name it. */
export interface ClientChoice {
  readonly options: Partial<TransportOptions>;
  readonly key: Pick<CellKey, 'httpClient' | 'grpcClient'>;
}

/** Every chosen client library for `target`'s wire (one, with no choice, for framed and msgpack). */
export function clientChoices(ctx: SuiteContext, target: SidecarTarget): ClientChoice[] {
  if (target.transport === 'http-json') return ctx.config.httpClients.map((httpClient) => ({ options: { httpClient }, key: { httpClient } }));
  if (target.transport === 'grpc') return ctx.config.grpcClients.map((grpcClient) => ({ options: { grpcClient }, key: { grpcClient } }));
  return [{ options: {}, key: {} }];
}

/** `lease` as a source of clients of one library; `facts` is read when asked (a restarted sidecar has new ones). */
export function clientSource(lease: SidecarLease, choice: ClientChoice): ClientSource {
  return {
    get facts() {
      return lease.facts;
    },
    crashed: () => lease.crashed(),
    connect: (count: number): Promise<Transport[]> => lease.connect(count, choice.options),
  };
}
