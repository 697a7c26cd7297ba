/** Sidecar leases: a spawned sidecar restarted when it died, or the address given with --connect. */
import os from 'node:os';
import { formatAddress, parseAddress, type Address } from '../transports/address.js';
import { loadTransport } from '../transports/registry.js';
import type { Transport, TransportName } from '../transports/types.js';
import type { ResolvedConfig } from './config.js';
import { HarnessError, toHarnessError } from './errors.js';
import { modelFlags } from './model-flags.js';
import { startSidecar, type Sidecar } from './sidecar.js';
import type { SidecarLease, SidecarTarget } from './suites/context.js';

export function sidecarArgs(target: SidecarTarget, config: ResolvedConfig): string[] {
  const args = modelFlags(config, target.model);
  if (target.httpSetup !== undefined) args.push('--http-worker', target.httpSetup);
  return args;
}

/** Open `count` clients of `transport` on `address` (one connection each); all or none. */
export async function openClients(transport: TransportName, address: Address, config: ResolvedConfig, count: number): Promise<Transport[]> {
  const factory = await loadTransport(transport);
  const clients: Transport[] = [];
  try {
    for (let i = 0; i < count; i++) clients.push(await factory({ address, timeoutMs: config.timeoutMs, maxFrameBytes: 64 * 1024 * 1024 }));
  } catch (error) {
    await Promise.all(clients.map((c) => c.close()));
    throw error;
  }
  return clients;
}

/** A lease on a spawned sidecar, restarted on the next `connect` when it died; `stop` ends it. */
export async function spawnLease(target: SidecarTarget, config: ResolvedConfig): Promise<{ lease: SidecarLease; stop: () => Promise<void> }> {
  const spec = { model: target.model, transport: target.transport, family: target.family, args: sidecarArgs(target, config), readyTimeoutMs: config.readyTimeoutMs };
  let sidecar: Sidecar = await startSidecar(spec);
  const lease: SidecarLease = {
    transport: target.transport,
    family: target.family,
    ...(target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup }),
    get facts() {
      return { ...sidecar.ready };
    },
    async live() {
      if (sidecar.hasExited()) {
        await sidecar.stop();
        sidecar = await startSidecar(spec); // the cell before crashed it; the matrix goes on
      }
      return sidecar.address;
    },
    async connect(count) {
      return openClients(target.transport, await this.live(), config, count);
    },
    crashed: async (graceMs = 1000) => {
      if (!sidecar.hasExited()) await Promise.race([sidecar.exited, new Promise((r) => setTimeout(r, graceMs))]);
      return sidecar.hasExited();
    },
  };
  return { lease, stop: () => sidecar.stop() };
}

/** A lease on the sidecar given with `--connect`: nothing to start or stop. */
export function connectedLease(target: SidecarTarget, config: ResolvedConfig): SidecarLease {
  if (config.connect === undefined) throw new HarnessError('USAGE', 'Expected `--connect ADDRESS`');
  const address = parseAddress(config.connect);
  return {
    transport: target.transport,
    family: address.family,
    ...(target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup }),
    facts: { connect: formatAddress(address) },
    live: () => Promise.resolve(address),
    connect: (count) => openClients(target.transport, address, config, count),
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
