/** `run` flags -> BenchOptions (the same object `--config file.json` holds). */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { BenchOptions } from '../config.js';
import { HarnessError } from '../../transports/errors.js';

export const RUN_FLAGS = {
  suite: { type: 'string' },
  transports: { type: 'string' },
  families: { type: 'string' },
  'http-setups': { type: 'string' },
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
    const m = /^(\d+)\s*(b|k|kib|m|mib)?$/i.exec(v);
    if (m === null) throw new HarnessError('USAGE', `Expected \`--${flag}\` to be sizes like 0,64,3072,64KiB,1MiB, got \`${v}\``);
    const unit = (m[2] ?? 'b').toLowerCase();
    return Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
  });
}

const numbers = (flag: string, value: string | undefined): number[] | undefined => list(value)?.map((v) => integer(flag, v) as number);

export async function parseRunFlags(argv: string[]): Promise<{ options: BenchOptions; help: boolean }> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: RUN_FLAGS, strict: true, allowPositionals: false });
  } catch (error) {
    throw new HarnessError('USAGE', (error as Error).message, { cause: error });
  }
  const v = parsed.values;
  const fromFile = v.config === undefined ? {} : await readConfigFile(v.config);
  const flags: BenchOptions = {
    suites: list(v.suite) as BenchOptions['suites'],
    transports: list(v.transports) as BenchOptions['transports'],
    families: list(v.families) as BenchOptions['families'],
    httpSetups: list(v['http-setups']) as BenchOptions['httpSetups'],
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
  } as BenchOptions;
  const defined = Object.fromEntries(Object.entries(flags).filter(([, x]) => x !== undefined));
  return { options: { ...fromFile, ...defined }, help: v.help === true };
}

async function readConfigFile(file: string): Promise<BenchOptions> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new HarnessError('USAGE', `Could not read \`--config ${file}\`: ${(error as Error).message}`, { cause: error });
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as BenchOptions;
  } catch (error) {
    throw new HarnessError('USAGE', `Expected \`--config ${file}\` to hold a JSON object of run options: ${(error as Error).message}`, { cause: error });
  }
}
