/**
 * `sidecar-bench classify IMAGE.png... [--transport framed] [--family unix] [--connect ADDRESS] [--data DIR]`
 * prints `file<TAB>class_index<TAB>class_name` per image. Every PNG is decoded before a sidecar
 * starts, so a bad file fails in milliseconds rather than after the model has loaded. Over framed
 * it asks as the idea's client does (type 1), so it works with any server written to the idea, and
 * prints the class name exactly as the server sent it, with its index in the data set's names.
 */
import { parseArgs } from 'node:util';
import { readClassNames } from '../../datasets/cifar10.js';
import { locateCifar10 } from '../../datasets/locate.js';
import { readPngFile } from '../../datasets/png.js';
import { FAMILIES, parseAddress, type Address, type Family } from '../../transports/address.js';
import { loadTransport } from '../../transports/registry.js';
import { TRANSPORT_NAMES, type Transport, type TransportName } from '../../transports/types.js';
import { isDevice, type BenchOptions } from '../config.js';
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import { SIDECAR_HEALTH_PATH } from '../leases.js';
import { startSidecar, type Sidecar } from '../sidecar.js';

const HELP = `Usage: sidecar-bench classify IMAGE.png... [options]
  --transport NAME     ${TRANSPORT_NAMES.join(', ')} (default framed)
  --family unix|tcp    socket family of the spawned sidecar (default unix)
  --connect ADDRESS    use a running cifar sidecar (unix:/path or tcp:host:port) instead
  --data DIR           CIFAR-10 directory, for class names (else $CIFAR10_DIR, cache, ../shared)
  --device cpu|cuda|cuda:N|auto   where the spawned sidecar runs the model (default auto)
  --timeout-ms MS      per-image timeout (default 30000)
Prints one line per image: file<TAB>class_index<TAB>class_name (the name the server sent, where
the wire carries one: framed's type 1 reply). A name that is not a class is UNKNOWN_LABEL.
`;

const FLAGS = {
  transport: { type: 'string', default: 'framed' },
  family: { type: 'string', default: 'unix' },
  connect: { type: 'string' },
  data: { type: 'string' },
  device: { type: 'string', default: 'auto' },
  'timeout-ms': { type: 'string', default: '30000' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The parsed command line, checked; the same shape whether it came from flags or a caller. */
export interface ClassifyOptions {
  readonly files: readonly string[];
  readonly transport: TransportName;
  readonly family: Family;
  readonly connect: string | undefined;
  readonly data: string | undefined;
  readonly device: NonNullable<BenchOptions['device']>;
  readonly timeoutMs: number;
}

function deviceOf(value: string): NonNullable<BenchOptions['device']> {
  if (!isDevice(value)) throw new HarnessError('USAGE', `Expected \`--device\` to be cpu, cuda, cuda:N or auto, got \`${value}\``);
  return value;
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new HarnessError('USAGE', `Expected \`--${flag}\` to be one of ${allowed.join(', ')}, got \`${value}\``);
  return value as T;
}

export function parseClassifyFlags(argv: string[]): ClassifyOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, allowPositionals: true });
  } catch (error) {
    throw new HarnessError('USAGE', `${(error as Error).message}\n\n${HELP}`, { cause: error });
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  if (parsed.positionals.length === 0) throw new HarnessError('USAGE', `Expected at least one PNG file to classify\n\n${HELP}`);
  const timeoutMs = Number(v['timeout-ms']);
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new HarnessError('USAGE', `Expected \`--timeout-ms\` to be a positive integer, got \`${v['timeout-ms']}\``);
  return Object.freeze({
    files: parsed.positionals,
    transport: oneOf('transport', v.transport, TRANSPORT_NAMES),
    family: oneOf('family', v.family, FAMILIES),
    connect: v.connect,
    data: v.data,
    device: deviceOf(v.device),
    timeoutMs,
  });
}

/** Classify one image per request; a failed image is reported on stderr and the rest go on. */
async function classifyAll(client: Transport, files: readonly string[], images: readonly Uint8Array[], names: readonly string[]): Promise<number> {
  let failures = 0;
  for (const [i, file] of files.entries()) {
    try {
      const { labels, names: named } = await client.classify(images[i] as Uint8Array);
      const label = labels[0];
      if (labels.length !== 1 || label === undefined) throw new HarnessError('PROTOCOL_ERROR', `Expected 1 label for 1 image, got ${labels.length}`);
      process.stdout.write(`${file}\t${label}\t${named?.[0] ?? names[label] ?? '?'}\n`);
    } catch (error) {
      const e = toHarnessError(error);
      failures += 1;
      process.stderr.write(`sidecar-bench: ${file}: ${e.code}: ${e.message}\n`);
    }
  }
  return failures === 0 ? 0 : 1;
}

export async function classifyCommand(argv: string[]): Promise<number> {
  const options = parseClassifyFlags(argv);
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const images: Uint8Array[] = [];
  for (const file of options.files) images.push(await readPngFile(file));
  const data = locateCifar10({ data: options.data });
  const names = readClassNames(data?.dir);

  let sidecar: Sidecar | undefined;
  let client: Transport | undefined;
  try {
    let address: Address;
    if (options.connect !== undefined) {
      address = parseAddress(options.connect);
    } else {
      const args = ['--device', options.device, ...(data === undefined ? [] : ['--data', data.dir])];
      sidecar = await startSidecar({ model: 'cifar', transport: options.transport, family: options.family, args });
      address = sidecar.address;
    }
    const health = sidecar === undefined ? {} : { healthPath: SIDECAR_HEALTH_PATH };
    client = await (await loadTransport(options.transport))({ address, timeoutMs: options.timeoutMs, maxFrameBytes: 64 * 1024 * 1024, dialect: 'idea', classNames: names, ...health });
    return await classifyAll(client, options.files, images, names);
  } finally {
    await client?.close();
    await sidecar?.stop();
  }
}
