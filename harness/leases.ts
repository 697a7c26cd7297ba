/** Sidecar leases: a spawned sidecar restarted when it died, or the address given with --connect. */
import os from 'node:os';
import { readClassNames } from '../datasets/cifar10.js';
import { locateCifar10 } from '../datasets/locate.js';
import { formatAddress, parseAddress, type Address } from '../transports/address.js';
import { loadTransport } from '../transports/registry.js';
import type { GrpcClientName, HttpClientName, Transport, TransportName, TransportOptions } from '../transports/types.js';
import type { ResolvedConfig } from './config.js';
import { HarnessError, toHarnessError } from '../transports/errors.js';
import { modelFlags, modelSpecArg } from './model-flags.js';
import { startSidecar, type Sidecar } from './sidecar.js';
import type { SidecarLease, SidecarTarget } from './contracts.js';

/** Our http-json sidecar's health route: a client made once it answers finds the forked worker up. */
export const SIDECAR_HEALTH_PATH = '/healthz';

export function sidecarArgs(target: SidecarTarget, config: ResolvedConfig): string[] {
  const args = modelFlags(config, target.model);
  if (target.httpStack !== undefined) args.push('--http-stack', target.httpStack);
  if (target.grpcServer !== undefined) args.push('--grpc-server', target.grpcServer);
  return args;
}

/**
 * The client library a lease's clients use unless a suite asks for another: the first of
 * `--http-clients` / `--grpc-clients` (each transport reads only its own).
 */
export function defaultClients(config: ResolvedConfig): { readonly httpClient: HttpClientName; readonly grpcClient: GrpcClientName } {
  const [httpClient = 'undici'] = config.httpClients;
  const [grpcClient = 'grpc-js'] = config.grpcClients;
  return { httpClient, grpcClient };
}

/** Open `count` clients of `transport` on `address` (one connection each); all or none. */
export async function openClients(transport: TransportName, address: Address, config: ResolvedConfig, count: number, extra: Partial<TransportOptions> = {}): Promise<Transport[]> {
  const factory = await loadTransport(transport);
  const clients: Transport[] = [];
  try {
    for (let i = 0; i < count; i++) clients.push(await factory({ ...extra, address, timeoutMs: config.timeoutMs, maxFrameBytes: 64 * 1024 * 1024 }));
  } catch (error) {
    await Promise.all(clients.map((c) => c.close()));
    throw error;
  }
  return clients;
}

/** Codes with which a sidecar that is alive shows it does not answer: no reply, or no connection made. */
const HUNG_CODES: ReadonlySet<string> = new Set(['TIMEOUT', 'CONNECT_FAILED']);

/**
 * Whether a live sidecar has hung: one echo on a fresh connection gets no answer within the
 * request timeout. Any reply counts as an answer, an error reply too (every core echoes).
 */
export async function hasHung(transport: TransportName, address: Address, config: ResolvedConfig): Promise<boolean> {
  let client: Transport | undefined;
  try {
    [client] = await openClients(transport, address, config, 1, { healthPath: SIDECAR_HEALTH_PATH });
    await client?.echo(new Uint8Array(1));
    return false;
  } catch (error) {
    return HUNG_CODES.has(toHarnessError(error).code);
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/**
 * A lease on a spawned sidecar; `stop` ends it. Before every cell opens on it, a sidecar that died
 * (crashed) or that is alive but answers nothing (hung: SIGSTOPped, deadlocked) is replaced by a
 * fresh one, so one bad cell does not fail the rest of the matrix.
 */
export async function spawnLease(target: SidecarTarget, config: ResolvedConfig): Promise<{ lease: SidecarLease; stop: () => Promise<void> }> {
  const spec = { model: modelSpecArg(config, target.model), transport: target.transport, family: target.family, args: sidecarArgs(target, config), readyTimeoutMs: config.readyTimeoutMs };
  let sidecar: Sidecar = await startSidecar(spec);
  // A sidecar is probed before it is handed out again, not when it has just answered its ready line.
  let fresh = true;
  let turn: Promise<unknown> = Promise.resolve();
  const lease: SidecarLease = {
    transport: target.transport,
    family: target.family,
    ...(target.httpStack === undefined ? {} : { httpStack: target.httpStack }),
    ...(target.grpcServer === undefined ? {} : { grpcServer: target.grpcServer }),
    get facts() {
      return { ...sidecar.ready };
    },
    live() {
      // One at a time: two arms opening at once must not both replace the sidecar.
      const next = turn.then(async () => {
        const hung = !fresh && !sidecar.hasExited() && (await hasHung(target.transport, sidecar.address, config));
        if (hung) sidecar.kill(); // a stopped process takes no SIGTERM
        if (hung || sidecar.hasExited()) {
          await sidecar.stop();
          sidecar = await startSidecar(spec); // the cell before crashed or hung it; the matrix goes on
        }
        fresh = false;
        return sidecar.address;
      });
      turn = next.catch(() => undefined);
      return next;
    },
    async connect(count, extra = {}) {
      return openClients(target.transport, await this.live(), config, count, { healthPath: SIDECAR_HEALTH_PATH, ...defaultClients(config), ...extra });
    },
    crashed: async (graceMs = 1000) => {
      if (!sidecar.hasExited()) await Promise.race([sidecar.exited, new Promise((r) => setTimeout(r, graceMs))]);
      return sidecar.hasExited();
    },
  };
  return { lease, stop: () => sidecar.stop() };
}

/**
 * A lease on the server given with `--connect`: nothing to start or stop. It may be written to the
 * idea alone, so its clients speak the idea's requests where it has them (`dialect: 'idea'`), read
 * a class the server names with the data set's class names, and ask a health route only if told.
 */
export function connectedLease(target: SidecarTarget, config: ResolvedConfig): SidecarLease {
  if (config.connect === undefined) throw new HarnessError('USAGE', 'Expected `--connect ADDRESS`');
  const address = parseAddress(config.connect);
  const options: Partial<TransportOptions> = {
    dialect: 'idea',
    ...(target.model === 'cifar' ? { classNames: readClassNames(locateCifar10({ data: config.data })?.dir) } : {}),
    ...(config.healthPath === undefined ? {} : { healthPath: config.healthPath }),
  };
  return {
    transport: target.transport,
    family: address.family,
    facts: { connect: formatAddress(address) },
    live: () => Promise.resolve(address),
    connect: (count, extra = {}) => openClients(target.transport, address, config, count, { ...options, ...defaultClients(config), ...extra }),
    crashed: () => Promise.resolve(false),
  };
}

/**
 * Run `body` with a lease (or the start failure) for every target, all alive at once so their
 * cells can be interleaved; every spawned sidecar is stopped afterwards.
 */
export async function withSidecars<T>(targets: readonly SidecarTarget[], config: ResolvedConfig, body: (leases: readonly (SidecarLease | HarnessError)[]) => Promise<T>): Promise<T> {
  const stops: (() => Promise<void>)[] = [];
  const start = async (target: SidecarTarget): Promise<SidecarLease | HarnessError> => {
    if (config.connect !== undefined) return connectedLease(target, config);
    try {
      const { lease, stop } = await spawnLease(target, config);
      stops.push(stop);
      return lease;
    } catch (error) {
      return toHarnessError(error);
    }
  };
  try {
    // Started a few at a time: loading a model is CPU-bound, and this many cores can share the work.
    const leases: (SidecarLease | HarnessError)[] = [];
    const batch = Math.max(1, Math.min(4, os.availableParallelism()));
    for (let i = 0; i < targets.length; i += batch) leases.push(...(await Promise.all(targets.slice(i, i + batch).map(start))));
    return await body(leases);
  } finally {
    await Promise.all(stops.map((stop) => stop()));
  }
}
