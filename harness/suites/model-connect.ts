/**
 * The model suite's clients, and where the model's metadata comes from. A sidecar we started says
 * its metadata on its ready line; a server given with `--connect` (Triton, MLServer, KServe, our own
 * sidecar started by hand) is asked over the Open Inference Protocol only (dialect `oip`: its
 * health, metadata and infer routes or RPCs, nothing of ours), for the model `--model-name` names.
 */
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import type { ModelMetadata, Transport, TransportName, TransportOptions } from '../../transports/types.js';
import type { TensorEncoding } from '../results.js';
import type { ClientSource } from './arms.js';
import type { SidecarLease, SuiteContext } from './context.js';
import { parseMetadata } from './model-metadata.js';

/** The wires of the Open Inference Protocol: under --connect these speak it and nothing else. */
const OIP_WIRES: readonly TransportName[] = ['http-json', 'grpc'];

/** The client options for `transport` in this run: the model's name, and under --connect the protocol only. */
export function modelClientOptions(ctx: SuiteContext, transport: TransportName, modelName: string | undefined, encoding?: TensorEncoding): Partial<TransportOptions> {
  const oip = ctx.config.connect !== undefined && OIP_WIRES.includes(transport);
  return { ...(modelName === undefined ? {} : { modelName }), ...(oip ? { dialect: 'oip' as const } : {}), ...(encoding === undefined ? {} : { tensorEncoding: encoding }) };
}

/** Clients of `lease` for the model named `modelName`, sending tensors in `encoding` (http-json). */
export function modelClients(ctx: SuiteContext, lease: SidecarLease, modelName: string, encoding: TensorEncoding | undefined): ClientSource {
  const options = modelClientOptions(ctx, lease.transport, modelName, encoding);
  return {
    get facts() {
      return lease.facts;
    },
    crashed: () => lease.crashed(),
    connect: (count) => lease.connect(count, options),
  };
}

/**
 * The model's metadata: from a sidecar's ready line, else (a server we did not start) asked over
 * each wire in turn until one answers, http-json first: without `--model-name` it can find the
 * model in the server's repository index, which gRPC's service cannot list.
 */
export async function modelMetadataOf(ctx: SuiteContext, leases: readonly (SidecarLease | HarnessError)[]): Promise<{ metadata: ModelMetadata; source: string }> {
  const live = leases.filter((l): l is SidecarLease => !(l instanceof HarnessError));
  const withFacts = live.find((l) => l.facts['metadata'] !== undefined);
  if (withFacts !== undefined) return { metadata: parseMetadata(withFacts.facts['metadata']), source: `the ${withFacts.transport} sidecar's ready line` };
  const asked = ctx.config.modelName;
  const order = [...live].sort((a, b) => Number(b.transport === 'http-json') - Number(a.transport === 'http-json'));
  let failure: unknown = leases[0] ?? new HarnessError('USAGE', 'Expected at least one transport to measure');
  for (const lease of order) {
    try {
      const [client] = await lease.connect(1, modelClientOptions(ctx, lease.transport, asked));
      try {
        const metadata = parseMetadata(await (client as Transport).metadata());
        if (asked !== undefined && metadata.name !== asked) throw new HarnessError('PROTOCOL_ERROR', `Asked for model \`${asked}\`'s metadata, the server answered for \`${metadata.name}\``);
        return { metadata, source: `${lease.transport} metadata()` };
      } finally {
        await client?.close().catch(() => undefined);
      }
    } catch (error) {
      failure = error;
    }
  }
  const e = toHarnessError(failure);
  if (ctx.config.connect !== undefined && asked === undefined && e.code === 'USAGE') {
    throw new HarnessError('USAGE', `\`--connect ${ctx.config.connect}\`: name the model with \`--model-name NAME\` (${e.message})`, { cause: e });
  }
  throw e;
}
