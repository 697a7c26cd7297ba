/**
 * HTTP clients by name, as lazy factories (like transports/registry.ts): only the chosen
 * library's adapter loads. `satisfies` makes a missing entry a type error.
 */
import type { HttpClientName } from '../types.js';
import type { HttpClientFactory } from './types.js';

export const HTTP_CLIENT_FACTORIES = {
  undici: async () => (await import('./undici.js')).createUndiciClient,
  fetch: async () => (await import('./fetch.js')).createFetchClient,
  'node-http': async () => (await import('./node-http.js')).createNodeHttpClient,
  lean: async () => (await import('./lean.js')).createLeanClient,
} satisfies Record<HttpClientName, () => Promise<HttpClientFactory>>;

export async function loadHttpClient(name: HttpClientName): Promise<HttpClientFactory> {
  return HTTP_CLIENT_FACTORIES[name]();
}
