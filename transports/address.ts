import { HarnessError } from './errors.js';

/** Where a sidecar listens: a Unix socket path or a TCP host and port. */
export type Address =
  | { readonly family: 'unix'; readonly path: string }
  | { readonly family: 'tcp'; readonly host: string; readonly port: number };

export type Family = Address['family'];
export const FAMILIES = ['unix', 'tcp'] as const satisfies readonly Family[];

export function parseAddress(text: string): Address {
  if (text.startsWith('unix:') && text.length > 'unix:'.length) {
    return { family: 'unix', path: text.slice('unix:'.length) };
  }
  const tcp = /^tcp:\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  if (tcp?.[1] !== undefined && tcp[2] !== undefined && Number(tcp[2]) <= 65535) {
    return { family: 'tcp', host: tcp[1], port: Number(tcp[2]) };
  }
  throw new HarnessError('USAGE', `Expected an address like \`unix:/path/to.sock\` or \`tcp:127.0.0.1:7000\`, got \`${text}\``);
}

export function formatAddress(address: Address): string {
  if (address.family === 'unix') return `unix:${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `tcp:${host}:${address.port}`;
}
