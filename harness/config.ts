/**
 * Options in, frozen resolved config out; every default lives here. The CLI only parses flags
 * into `BenchOptions`, and `--config file.json` is the same object as JSON.
 */
import { FAMILIES, parseAddress, type Family } from '../transports/address.js';
import {
  GRPC_CLIENTS,
  GRPC_SERVERS,
  HTTP_CLIENTS,
  HTTP_SETUPS,
  HTTP_STACK_OF_SETUP,
  HTTP_STACKS,
  TRANSPORT_NAMES,
  type GrpcClientName,
  type GrpcServer,
  type HttpClientName,
  type HttpSetup,
  type HttpStack,
  type TransportName,
} from '../transports/types.js';
import { didYouMean } from './cli/nearest.js';
import { HarnessError } from '../transports/errors.js';
import { checkModelOptions } from './model-flags.js';

export const SUITES = ['echo', 'cifar', 'gemma', 'model'] as const;
export type SuiteName = (typeof SUITES)[number];
export const SCENARIOS = ['single-stream', 'concurrency', 'server', 'offline'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  suites?: SuiteName[];
  transports?: TransportName[];
  families?: Family[];
  /** The old spelling of `httpStacks` (`sync`, `gthread`: the gunicorn stacks); give one or the other. */
  httpSetups?: HttpSetup[];
  /** http-json server stacks, each a sidecar of its own (the echo and cifar suites measure all; the others the first, gunicorn-gthread when chosen). */
  httpStacks?: HttpStack[];
  /** http-json client libraries, each an arm on the same sidecar (measured in the same rounds). */
  httpClients?: HttpClientName[];
  /** gRPC servers, each a sidecar of its own. */
  grpcServers?: GrpcServer[];
  /** gRPC clients, each an arm on the same sidecar. */
  grpcClients?: GrpcClientName[];
  scenarios?: ScenarioName[];
  payloadBytes?: number[];
  concurrency?: number[];
  ratesRps?: number[];
  batchSizes?: number[];
  samplingSteps?: number[];
  warmupRequests?: number;
  warmupMs?: number;
  blockMs?: number;
  minRounds?: number;
  maxRounds?: number;
  /** A group starts no new round after this long (once it has `minRounds`), settled or not. */
  maxGroupMs?: number;
  stabilityPct?: number;
  seed?: number;
  /** How the echo groups are pinned to cores (harness/affinity.ts): all on one core, clients apart from servers, or not at all. */
  cpuPinning?: 'shared' | 'split' | 'off';
  trials?: number;
  timeoutMs?: number;
  readyTimeoutMs?: number;
  limit?: number;
  data?: string;
  connect?: string;
  /** With `connect`: an http-json route to `GET` before measuring (`/healthz` on our sidecar); none by default. */
  healthPath?: string;
  /** `cuda` is the current device; `cuda:N` picks one. */
  device?: 'cpu' | 'cuda' | 'auto' | `cuda:${number}`;
  /** The models' weight dtype; `auto` is each model's default (Gemma: bfloat16 on CUDA, float32 on the CPU). */
  dtype?: 'auto' | 'float32' | 'bfloat16' | 'float16';
  sidecarArgs?: string[];
  out?: string;
  quick?: boolean;
  calibration?: boolean;
  /** The `model` suite's model: `path/to/file.py:Class`, `package.module:Class`, or a built-in (echo, cifar, gemma). */
  modelPath?: string;
  /** The `model` suite's requests from a JSON file (harness/suites/model-inputs.ts) instead of synthesised ones. */
  modelInputs?: string;
  /** The `model` suite's agreement check: floats may differ by this, relative and absolute alike (integers must match). */
  floatTolerance?: number;
  /** The `model` suite's request sizes: its free (-1) dimensions filled to about this many input bytes, a group each (harness/suites/model-sizes.ts). */
  tensorBytes?: number[];
  /** The model's name on a `--connect`ed Open Inference Protocol server, which has no portable way to list its models. */
  modelName?: string;
}

/**
 * Every key a `--config` file may hold (harness/cli/config-file.ts refuses others, naming the
 * nearest). `satisfies` makes a new option that is missing here fail `tsc`.
 */
export const OPTION_KEYS = Object.keys({
  suites: 1, transports: 1, families: 1, httpSetups: 1, httpStacks: 1, httpClients: 1, grpcServers: 1, grpcClients: 1, scenarios: 1, payloadBytes: 1, concurrency: 1, ratesRps: 1, batchSizes: 1, samplingSteps: 1,
  warmupRequests: 1, warmupMs: 1, blockMs: 1, minRounds: 1, maxRounds: 1, maxGroupMs: 1, stabilityPct: 1, seed: 1, cpuPinning: 1, trials: 1,
  timeoutMs: 1, readyTimeoutMs: 1, limit: 1, data: 1, connect: 1, healthPath: 1, device: 1, dtype: 1, sidecarArgs: 1, out: 1, quick: 1,
  calibration: 1, modelPath: 1, modelInputs: 1, floatTolerance: 1, tensorBytes: 1, modelName: 1,
} satisfies Record<keyof BenchOptions, 1>) as (keyof BenchOptions)[];

export type ResolvedConfig = Readonly<Required<Omit<BenchOptions, 'httpSetups' | 'data' | 'connect' | 'healthPath' | 'out' | 'limit' | 'modelPath' | 'modelInputs' | 'floatTolerance' | 'tensorBytes' | 'modelName'>>> & {
  readonly modelPath?: string;
  /** Unset: the model's own request size (one group). */
  readonly tensorBytes?: readonly number[];
  readonly modelName?: string;
  readonly modelInputs?: string;
  /** Optional only so configs written before it still type-check; resolveConfig always sets it. */
  readonly floatTolerance?: number;
  readonly healthPath?: string;
  readonly data: string | undefined;
  readonly connect: string | undefined;
  readonly out: string | undefined;
  readonly limit: number | undefined;
};

export const FULL: Required<Omit<BenchOptions, 'httpSetups' | 'data' | 'connect' | 'healthPath' | 'out' | 'limit' | 'quick' | 'modelPath' | 'modelInputs' | 'tensorBytes' | 'modelName'>> = {
  suites: ['echo'],
  transports: [...TRANSPORT_NAMES],
  families: [...FAMILIES],
  // Today's set-ups: the idea's stack (Flask under gunicorn, both workers) through undici; grpcio's thread pool through grpc-js.
  httpStacks: ['gunicorn-sync', 'gunicorn-gthread'],
  httpClients: ['undici'],
  grpcServers: ['thread'],
  grpcClients: ['grpc-js'],
  scenarios: ['single-stream', 'concurrency'],
  payloadBytes: [0, 64, 3072, 65_536, 1_048_576],
  concurrency: [1, 4, 16],
  ratesRps: [500, 2000],
  batchSizes: [1, 16, 64, 256, 1024],
  samplingSteps: [16, 64, 128, 256],
  warmupRequests: 200,
  warmupMs: 250,
  blockMs: 10,
  minRounds: 10,
  maxRounds: 400,
  maxGroupMs: 30_000,
  stabilityPct: 10,
  seed: 1,
  cpuPinning: 'shared',
  trials: 1,
  timeoutMs: 30_000,
  readyTimeoutMs: 120_000,
  device: 'auto',
  dtype: 'auto',
  sidecarArgs: [],
  calibration: true,
  floatTolerance: 1e-5,
};

/**
 * `--quick`: every suite and scenario, sized to finish in about four minutes on a 2-core machine:
 * three payloads, two concurrency levels and one offered rate, short blocks, at most 8 s per group.
 */
export const QUICK: Partial<BenchOptions> = {
  warmupRequests: 20,
  warmupMs: 20,
  blockMs: 5,
  minRounds: 8,
  maxRounds: 100,
  maxGroupMs: 8000,
  suites: ['echo', 'cifar', 'gemma'],
  scenarios: ['single-stream', 'concurrency', 'server', 'offline'],
  payloadBytes: [64, 3072, 65_536],
  concurrency: [4, 16],
  ratesRps: [500],
  samplingSteps: [8],
  batchSizes: [64],
  limit: 300,
  // The idea's stacks and the fastest (issue 15), so the report's ladder has every step: undici is
  // the client most deploy, lean the fastest measured here (lean stack, 3 KiB, p50 x framed: lean
  // 4.0-4.3x, undici 5.4-6.0x, node-http 8.0-9.3x, fetch 15-17x; 2-core VM, load 0.8-2.1,
  // `npx tsx transports/bench/http-clients.bench.ts`).
  httpStacks: ['gunicorn-gthread', 'lean'],
  httpClients: ['undici', 'lean'],
  grpcServers: ['thread', 'aio-uvloop'],
  grpcClients: ['grpc-js', 'lean-http2'],
};

export function resolveConfig(options: BenchOptions): ResolvedConfig {
  // One server serves one model: with --connect, --quick leaves the suites as chosen (default echo).
  const quick = options.quick !== true ? {} : options.connect === undefined ? QUICK : { ...QUICK, suites: FULL.suites };
  const { httpSetups, ...rest } = options;
  const merged = { ...FULL, ...quick, ...dropUndefined(rest), ...stacksOfSetups(httpSetups, rest.httpStacks) };
  const config = { ...merged, quick: options.quick === true, data: merged.data, connect: merged.connect, out: merged.out, limit: merged.limit };
  validate(config);
  return Object.freeze(config);
}

/** `--http-setups` (the old spelling) as the stacks it names; refused beside `--http-stacks`. */
function stacksOfSetups(setups: readonly HttpSetup[] | undefined, stacks: readonly HttpStack[] | undefined): { httpStacks?: HttpStack[] } {
  if (setups === undefined) return {};
  if (stacks !== undefined) usage('Expected `--http-setups` or `--http-stacks`, got both: `--http-setups sync,gthread` is the old spelling of `--http-stacks gunicorn-sync,gunicorn-gthread`');
  oneOf('http-setups', setups, HTTP_SETUPS);
  return { httpStacks: setups.map((s) => HTTP_STACK_OF_SETUP[s]) };
}

function oneOf<T extends string>(name: string, values: readonly T[], allowed: readonly T[]): void {
  if (values.length === 0) usage(`Expected \`--${name}\` to name at least one value`);
  for (const v of values) if (!allowed.includes(v)) usage(`Expected \`--${name}\` to be one of ${allowed.join(', ')}, got \`${v}\`.${didYouMean(String(v), allowed)}`);
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(config: ResolvedConfig): void {
  oneOf('suite', config.suites, SUITES);
  oneOf('transports', config.transports, TRANSPORT_NAMES);
  oneOf('families', config.families, FAMILIES);
  oneOf('http-stacks', config.httpStacks, HTTP_STACKS);
  oneOf('http-clients', config.httpClients, HTTP_CLIENTS);
  oneOf('grpc-servers', config.grpcServers, GRPC_SERVERS);
  oneOf('grpc-clients', config.grpcClients, GRPC_CLIENTS);
  oneOf('scenarios', config.scenarios, SCENARIOS);
  oneOf('cpu-pinning', [config.cpuPinning], ['shared', 'split', 'off'] as const);
  oneOf('dtype', [config.dtype], ['auto', 'float32', 'bfloat16', 'float16'] as const);
  if (!isDevice(config.device)) usage(`Expected \`--device\` to be cpu, cuda, cuda:N or auto, got \`${config.device}\``);
  const positive = (name: string, values: readonly number[], allowZero = false): void => {
    for (const v of values) {
      if (!Number.isInteger(v) || v < (allowZero ? 0 : 1)) usage(`Expected \`--${name}\` to be ${allowZero ? 'non-negative' : 'positive'} integers, got \`${v}\``);
    }
  };
  positive('payloads', config.payloadBytes, true);
  positive('concurrency', config.concurrency);
  positive('rates', config.ratesRps);
  positive('batch-sizes', config.batchSizes);
  positive('sampling-steps', config.samplingSteps);
  positive('warmup', [config.warmupRequests], true);
  positive('block-ms', [config.blockMs]);
  positive('min-rounds', [config.minRounds]);
  positive('max-rounds', [config.maxRounds]);
  positive('max-group-ms', [config.maxGroupMs]);
  positive('seed', [config.seed], true);
  positive('trials', [config.trials]);
  positive('timeout-ms', [config.timeoutMs]);
  if (config.limit !== undefined) positive('limit', [config.limit]);
  if (config.tensorBytes !== undefined) positive('tensor-bytes', config.tensorBytes);
  if (config.connect !== undefined && !isAddress(config.connect)) usage(`Expected \`--connect\` to be an address like \`unix:/path/to.sock\` or \`tcp:127.0.0.1:7000\`, got \`${config.connect}\``);
  if (config.healthPath !== undefined && !config.healthPath.startsWith('/')) usage(`Expected \`--health-path\` to be a path starting with /, got \`${config.healthPath}\``);
  if (config.maxRounds < config.minRounds) usage(`Expected \`--max-rounds\` (${config.maxRounds}) to be at least \`--min-rounds\` (${config.minRounds})`);
  if (!(config.stabilityPct > 0)) usage(`Expected \`--stability-pct\` to be a positive number, got \`${config.stabilityPct}\``);
  checkModelOptions(config);
}

function isAddress(text: string): boolean {
  try {
    parseAddress(text);
    return true;
  } catch {
    return false;
  }
}

/** `cpu`, `auto`, `cuda` (torch's current device) or `cuda:N`. */
export function isDevice(value: string): value is NonNullable<BenchOptions['device']> {
  return /^(cpu|auto|cuda|cuda:\d+)$/.test(value);
}

function usage(message: string): never {
  throw new HarnessError('USAGE', message);
}
