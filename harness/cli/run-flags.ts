/** `run` flags -> BenchOptions (the same object `--config file.json` holds). */
import type { BenchOptions } from '../config.js';
import { HarnessError } from '../../transports/errors.js';
import { parseFlags } from './argv.js';
import { parseSize, readConfigFile } from './config-file.js';

export const RUN_FLAGS = {
  suite: { type: 'string' },
  transports: { type: 'string' },
  families: { type: 'string' },
  'http-setups': { type: 'string' },
  'http-stacks': { type: 'string' },
  'http-clients': { type: 'string' },
  'grpc-servers': { type: 'string' },
  'grpc-clients': { type: 'string' },
  scenarios: { type: 'string' },
  payloads: { type: 'string' },
  concurrency: { type: 'string' },
  rates: { type: 'string' },
  'batch-sizes': { type: 'string' },
  'sampling-steps': { type: 'string' },
  warmup: { type: 'string' },
  'warmup-ms': { type: 'string' },
  'block-ms': { type: 'string' },
  'min-rounds': { type: 'string' },
  'max-rounds': { type: 'string' },
  'max-group-ms': { type: 'string' },
  'stability-pct': { type: 'string' },
  seed: { type: 'string' },
  'cpu-pinning': { type: 'string' },
  trials: { type: 'string' },
  'timeout-ms': { type: 'string' },
  'ready-timeout-ms': { type: 'string' },
  limit: { type: 'string' },
  data: { type: 'string' },
  connect: { type: 'string' },
  'health-path': { type: 'string' },
  device: { type: 'string' },
  dtype: { type: 'string' },
  'sidecar-arg': { type: 'string', multiple: true },
  out: { type: 'string' },
  config: { type: 'string' },
  quick: { type: 'boolean' },
  'no-calibration': { type: 'boolean' },
  model: { type: 'string' },
  'model-inputs': { type: 'string' },
  'float-tolerance': { type: 'string' },
  'tensor-bytes': { type: 'string' },
  'model-name': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const list = (value: string | undefined): string[] | undefined => (value === undefined ? undefined : value.split(',').map((v) => v.trim()).filter((v) => v.length > 0));

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isFinite(n)) throw new HarnessError('USAGE', `Expected \`--${flag}\` to be a number, got \`${value}\``);
  return n;
}

function sizes(flag: string, value: string | undefined): number[] | undefined {
  return list(value)?.map((v) => {
    const n = parseSize(v);
    if (n === undefined) throw new HarnessError('USAGE', `Expected \`--${flag}\` to be sizes like 0,64,3072,64KiB,1MiB, got \`${v}\``);
    return n;
  });
}

const numbers = (flag: string, value: string | undefined): number[] | undefined => list(value)?.map((v) => integer(flag, v) as number);

export async function parseRunFlags(argv: string[]): Promise<{ options: BenchOptions; help: boolean }> {
  const v = parseFlags(argv, RUN_FLAGS, 'run').values;
  const fromFile = v.config === undefined ? {} : await readConfigFile(v.config);
  const flags: BenchOptions = {
    suites: list(v.suite) as BenchOptions['suites'],
    transports: list(v.transports) as BenchOptions['transports'],
    families: list(v.families) as BenchOptions['families'],
    httpSetups: list(v['http-setups']) as BenchOptions['httpSetups'],
    httpStacks: list(v['http-stacks']) as BenchOptions['httpStacks'],
    httpClients: list(v['http-clients']) as BenchOptions['httpClients'],
    grpcServers: list(v['grpc-servers']) as BenchOptions['grpcServers'],
    grpcClients: list(v['grpc-clients']) as BenchOptions['grpcClients'],
    scenarios: list(v.scenarios) as BenchOptions['scenarios'],
    payloadBytes: sizes('payloads', v.payloads),
    concurrency: numbers('concurrency', v.concurrency),
    ratesRps: numbers('rates', v.rates),
    batchSizes: numbers('batch-sizes', v['batch-sizes']),
    samplingSteps: numbers('sampling-steps', v['sampling-steps']),
    warmupRequests: integer('warmup', v.warmup),
    warmupMs: integer('warmup-ms', v['warmup-ms']),
    blockMs: integer('block-ms', v['block-ms']),
    minRounds: integer('min-rounds', v['min-rounds']),
    maxRounds: integer('max-rounds', v['max-rounds']),
    maxGroupMs: integer('max-group-ms', v['max-group-ms']),
    stabilityPct: integer('stability-pct', v['stability-pct']),
    seed: integer('seed', v.seed),
    cpuPinning: v['cpu-pinning'] as BenchOptions['cpuPinning'],
    trials: integer('trials', v.trials),
    timeoutMs: integer('timeout-ms', v['timeout-ms']),
    readyTimeoutMs: integer('ready-timeout-ms', v['ready-timeout-ms']),
    limit: integer('limit', v.limit),
    data: v.data,
    connect: v.connect,
    healthPath: v['health-path'],
    device: v.device as BenchOptions['device'],
    dtype: v.dtype as BenchOptions['dtype'],
    sidecarArgs: v['sidecar-arg'],
    out: v.out,
    quick: v.quick,
    calibration: v['no-calibration'] === true ? false : undefined,
    modelPath: v.model,
    modelInputs: v['model-inputs'],
    floatTolerance: integer('float-tolerance', v['float-tolerance']),
    tensorBytes: sizes('tensor-bytes', v['tensor-bytes']),
    modelName: v['model-name'],
  } as BenchOptions;
  const defined = Object.fromEntries(Object.entries(flags).filter(([, x]) => x !== undefined));
  return { options: { ...fromFile, ...defined }, help: v.help === true };
}
