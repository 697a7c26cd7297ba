/**
 * Transports by wire name, as lazy factories: a transport's code (gRPC's especially) loads only
 * when it is chosen. `satisfies` makes a missing entry a type error.
 */
import type { TransportFactory, TransportName } from './types.js';

export const TRANSPORTS = {
  framed: async () => (await import('./framed.js')).createFramedTransport,
  msgpack: async () => (await import('./msgpack.js')).createMsgpackTransport,
  'http-json': async () => (await import('./http-json.js')).createHttpJsonTransport,
  grpc: async () => (await import('./grpc.js')).createGrpcTransport,
} satisfies Record<TransportName, () => Promise<TransportFactory>>;

export async function loadTransport(name: TransportName): Promise<TransportFactory> {
  return TRANSPORTS[name]();
}
