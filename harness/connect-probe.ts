/**
 * Before the first cell of a `--connect` run: is anything there, and which wire does it speak?
 * Each chosen transport sends one echo (for the model suite alone, http-json and grpc connect in
 * dialect `oip`, which checks the protocol's readiness and refuses the echo without sending it). Any answer of that wire counts, an error reply too (a
 * model-only server may not echo); what only a stranger to the wire produces (a reply that does not
 * decode, a closed connection, silence, a gRPC channel that never comes up) does not. A wire that
 * does not answer is then told apart from the others by trying them, so the message can say
 * "this address does not speak grpc; it answered like framed".
 */
import net from 'node:net';
import { formatAddress, parseAddress, type Address } from '../transports/address.js';
import { HarnessError, toHarnessError } from '../transports/errors.js';
import { TRANSPORT_NAMES, type Transport, type TransportName } from '../transports/types.js';
import type { ResolvedConfig } from './config.js';
import { openClients } from './leases.js';

/** How long the chosen wire has to answer its echo, and each other wire when telling them apart. */
export const PROBE_TIMEOUT_MS = 5000;
const OTHER_WIRE_TIMEOUT_MS = 1500;
/** The codes with which a client shows the server is not speaking its wire (see the module comment). */
const STRANGER_CODES: ReadonlySet<string> = new Set(['PROTOCOL_ERROR', 'INTERNAL', 'CONNECT_FAILED', 'SIDECAR_CLOSED', 'TIMEOUT']);

/** Whether anything accepts a connection at `address` (a refused or missing socket is not a wire question). */
function reachable(address: Address, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = address.family === 'unix' ? net.connect({ path: address.path }) : net.connect({ host: address.host, port: address.port });
    const done = (why: string | undefined): void => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () => done(`no connection within ${timeoutMs} ms`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/** undefined when `transport` speaks to the server at `address`, else the error its echo got. */
export async function speaks(transport: TransportName, address: Address, config: ResolvedConfig, timeoutMs: number): Promise<HarnessError | undefined> {
  let client: Transport | undefined;
  try {
    // A model-suite run may face any Open Inference Protocol server (Triton, MLServer): on its wires
    // the client asks the protocol's readiness when it connects and sends nothing of ours.
    const oip = config.suites.every((s) => s === 'model') && (transport === 'http-json' || transport === 'grpc');
    [client] = await openClients(transport, address, { ...config, timeoutMs }, 1, { dialect: oip ? 'oip' : 'idea' });
    await client?.echo(new Uint8Array(1));
    return undefined;
  } catch (error) {
    const e = toHarnessError(error);
    return STRANGER_CODES.has(e.code) ? e : undefined;
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/**
 * The transports of `chosen` the server at `config.connect` speaks. With `explicit` (the user named
 * the transports) every one must; without, those that do are returned (none is an error). Throws
 * USAGE, naming the wire the server does speak where one answers.
 */
export async function probeConnect(config: ResolvedConfig, chosen: readonly TransportName[], explicit: boolean): Promise<TransportName[]> {
  if (config.connect === undefined) return [...chosen];
  const address = parseAddress(config.connect);
  const at = `\`--connect ${formatAddress(address)}\``;
  const unreachable = await reachable(address, PROBE_TIMEOUT_MS);
  if (unreachable !== undefined) throw new HarnessError('USAGE', `Nothing accepts connections at ${at} (${unreachable}); start the server first, or check the address`);
  const results = new Map<TransportName, HarnessError | undefined>();
  for (const t of chosen) results.set(t, await speaks(t, address, config, PROBE_TIMEOUT_MS));
  const speaking = chosen.filter((t) => results.get(t) === undefined);
  const silent = chosen.filter((t) => results.get(t) !== undefined);
  if (silent.length === 0 || (!explicit && speaking.length > 0)) return speaking;
  // Which wire does it speak, then? Try the others, briefly.
  let found: TransportName | undefined = speaking[0];
  for (const t of TRANSPORT_NAMES.filter((x) => !chosen.includes(x))) {
    if (found !== undefined) break;
    if ((await speaks(t, address, config, OTHER_WIRE_TIMEOUT_MS)) === undefined) found = t;
  }
  const first = silent[0] as TransportName;
  const why = (results.get(first) as HarnessError).code;
  const like = found === undefined ? `it answered none of ${TRANSPORT_NAMES.join(', ')}` : `it answered like ${found}; measure it with \`--transports ${found}\``;
  throw new HarnessError('USAGE', `${at} does not speak ${silent.join(' or ')} (its ${first} echo got ${why}); ${like}`);
}
