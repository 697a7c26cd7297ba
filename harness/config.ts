/**
 * Options in, frozen resolved config out; every default lives here. The CLI only parses flags
 * into `BenchOptions`, and `--config file.json` is the same object as JSON.
 */
import { FAMILIES, type Family } from '../transports/address.js';
import { HTTP_SETUPS, TRANSPORT_NAMES, type HttpSetup, type TransportName } from '../transports/types.js';
import { HarnessError } from '../transports/errors.js';

export const SUITES = ['echo', 'cifar', 'gemma'] as const;
export type SuiteName = (typeof SUITES)[number];
export const SCENARIOS = ['single-stream', 'concurrency', 'server', 'offline'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchOptions {
  suites?: SuiteName[];
  transports?: TransportName[];
  families?: Family[];
  httpSetups?: HttpSetup[];
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
}

export type ResolvedConfig = Readonly<Required<Omit<BenchOptions, 'data' | 'connect' | 'healthPath' | 'out' | 'limit'>>> & {
  readonly healthPath?: string;
  readonly data: string | undefined;
  readonly connect: string | undefined;
  readonly out: string | undefined;
  readonly limit: number | undefined;
};

const FULL: Required<Omit<BenchOptions, 'data' | 'connect' | 'healthPath' | 'out' | 'limit' | 'quick'>> = {
  suites: ['echo'],
  transports: [...TRANSPORT_NAMES],
  families: [...FAMILIES],
  httpSetups: [...HTTP_SETUPS],
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
};

/**
 * `--quick`: every suite and scenario, sized to finish in about four minutes on a 2-core machine:
 * three payloads, two concurrency levels and one offered rate, short blocks, at most 8 s per group.
 */
const QUICK: Partial<BenchOptions> = {
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
};

export function resolveConfig(options: BenchOptions): ResolvedConfig {
  const merged = { ...FULL, ...(options.quick === true ? QUICK : {}), ...dropUndefined(options) };
  const config = { ...merged, quick: options.quick === true, data: merged.data, connect: merged.connect, out: merged.out, limit: merged.limit };
  validate(config);
  return Object.freeze(config);
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(config: ResolvedConfig): void {
  const oneOf = <T extends string>(name: string, values: readonly T[], allowed: readonly T[]): void => {
    if (values.length === 0) usage(`Expected \`--${name}\` to name at least one value`);
    for (const v of values) if (!allowed.includes(v)) usage(`Expected \`--${name}\` to be one of ${allowed.join(', ')}, got \`${v}\``);
  };
  oneOf('suite', config.suites, SUITES);
  oneOf('transports', config.transports, TRANSPORT_NAMES);
  oneOf('families', config.families, FAMILIES);
  oneOf('http-setups', config.httpSetups, HTTP_SETUPS);
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
  if (config.healthPath !== undefined && !config.healthPath.startsWith('/')) usage(`Expected \`--health-path\` to be a path starting with /, got \`${config.healthPath}\``);
  if (config.maxRounds < config.minRounds) usage(`Expected \`--max-rounds\` (${config.maxRounds}) to be at least \`--min-rounds\` (${config.minRounds})`);
  if (!(config.stabilityPct > 0)) usage(`Expected \`--stability-pct\` to be a positive number, got \`${config.stabilityPct}\``);
}

/** `cpu`, `auto`, `cuda` (torch's current device) or `cuda:N`. */
export function isDevice(value: string): value is NonNullable<BenchOptions['device']> {
  return /^(cpu|auto|cuda|cuda:\d+)$/.test(value);
}

function usage(message: string): never {
  throw new HarnessError('USAGE', message);
}
