/** Sidecar leases: a spawned sidecar restarted when it died, or the address given with --connect. */
import { formatAddress, parseAddress, type Address } from '../transports/address.js';
import { loadTransport } from '../transports/registry.js';
import type { Transport } from '../transports/types.js';
import type { ResolvedConfig } from './config.js';
import { HarnessError } from './errors.js';
import { startSidecar, type Sidecar } from './sidecar.js';
import type { SidecarLease, SidecarTarget } from './suites/context.js';

export function sidecarArgs(target: SidecarTarget, config: ResolvedConfig): string[] {
  const args = [...target.args, '--device', config.device, ...config.sidecarArgs];
  if (target.httpSetup !== undefined) args.push('--http-worker', target.httpSetup);
  return args;
}

async function openClients(target: SidecarTarget, address: Address, config: ResolvedConfig, count: number): Promise<Transport[]> {
  const factory = await loadTransport(target.transport);
  const clients: Transport[] = [];
  try {
    for (let i = 0; i < count; i++) clients.push(await factory({ address, timeoutMs: config.timeoutMs, maxFrameBytes: 64 * 1024 * 1024 }));
  } catch (error) {
    await Promise.all(clients.map((c) => c.close()));
    throw error;
  }
  return clients;
}

export async function withSpawnedSidecar<T>(target: SidecarTarget, config: ResolvedConfig, body: (lease: SidecarLease) => Promise<T>): Promise<T> {
  const spec = { model: target.model, transport: target.transport, family: target.family, args: sidecarArgs(target, config), readyTimeoutMs: config.readyTimeoutMs };
  let sidecar: Sidecar = await startSidecar(spec);
  const lease: SidecarLease = {
    transport: target.transport,
    family: target.family,
    ...(target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup }),
    get facts() {
      return { ...sidecar.ready };
    },
    async connect(count) {
      if (sidecar.hasExited()) {
        await sidecar.stop();
        sidecar = await startSidecar(spec); // the cell before crashed it; the matrix goes on
      }
      return openClients(target, sidecar.address, config, count);
    },
    crashed: async (graceMs = 1000) => {
      if (!sidecar.hasExited()) await Promise.race([sidecar.exited, new Promise((r) => setTimeout(r, graceMs))]);
      return sidecar.hasExited();
    },
  };
  try {
    return await body(lease);
  } finally {
    await sidecar.stop();
  }
}

export async function withConnectedSidecar<T>(target: SidecarTarget, config: ResolvedConfig, body: (lease: SidecarLease) => Promise<T>): Promise<T> {
  if (config.connect === undefined) throw new HarnessError('USAGE', 'Expected `--connect ADDRESS`');
  const address = parseAddress(config.connect);
  const lease: SidecarLease = {
    transport: target.transport,
    family: address.family,
    ...(target.httpSetup === undefined ? {} : { httpSetup: target.httpSetup }),
    facts: { connect: formatAddress(address) },
    connect: (count) => openClients(target, address, config, count),
    crashed: () => Promise.resolve(false),
  };
  return body(lease);
}
