/**
 * `--config FILE.json`: the run options as JSON, the same keys as BenchOptions. Checked as the
 * flags are, before anything runs: an unknown key is refused with the nearest valid one (a typo
 * must not silently run the default), and sizes may be written as the CLI takes them ("64KiB").
 */
import { readFile } from 'node:fs/promises';
import { FULL, OPTION_KEYS, type BenchOptions } from '../config.js';
import { HarnessError } from '../../transports/errors.js';
import { didYouMean } from './nearest.js';

/** `3072`, `64KiB`, `1MiB`, `64k` -> bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*(b|k|kib|m|mib)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  return Number(m[1]) * (unit.startsWith('k') ? 1024 : unit.startsWith('m') ? 1024 * 1024 : 1);
}

/** The JSON kind each key holds: FULL's defaults say it for most; the rest are listed. */
function kindOf(key: keyof BenchOptions): 'array' | 'number' | 'boolean' | 'string' {
  const value: unknown = (FULL as Partial<Record<keyof BenchOptions, unknown>>)[key];
  if (value === undefined) return key === 'limit' ? 'number' : key === 'quick' ? 'boolean' : 'string';
  return Array.isArray(value) ? 'array' : (typeof value as 'number' | 'boolean' | 'string');
}

/** Check a parsed config object's keys and kinds; sizes in `payloadBytes` become bytes. */
export function checkConfigObject(value: Record<string, unknown>, file: string): BenchOptions {
  const where = `\`--config ${file}\``;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(OPTION_KEYS as string[]).includes(key)) {
      throw new HarnessError('USAGE', `Unknown key \`${key}\` in ${where}.${didYouMean(key, OPTION_KEYS)} The keys are: ${OPTION_KEYS.join(', ')}`);
    }
    const kind = kindOf(key as keyof BenchOptions);
    const ok = kind === 'array' ? Array.isArray(v) : typeof v === kind;
    if (!ok) throw new HarnessError('USAGE', `Expected \`${key}\` in ${where} to be ${kind === 'array' ? 'a list' : `a ${kind}`}, got \`${JSON.stringify(v)}\``);
    out[key] = key === 'payloadBytes' ? (v as unknown[]).map((x) => sizeOf(x, where)) : v;
  }
  return out as BenchOptions;
}

function sizeOf(x: unknown, where: string): unknown {
  if (typeof x !== 'string') return x; // a number is checked with the flags' values (resolveConfig)
  const n = parseSize(x);
  if (n === undefined) throw new HarnessError('USAGE', `Expected \`payloadBytes\` in ${where} to be sizes like 0, 64, "3072", "64KiB", "1MiB", got \`${JSON.stringify(x)}\``);
  return n;
}

export async function readConfigFile(file: string): Promise<BenchOptions> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new HarnessError('USAGE', `Could not read \`--config ${file}\`: ${(error as Error).message}`, { cause: error });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HarnessError('USAGE', `Expected \`--config ${file}\` to hold a JSON object of run options: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HarnessError('USAGE', `Expected \`--config ${file}\` to hold a JSON object of run options, got ${Array.isArray(value) ? 'a list' : String(value)}`);
  return checkConfigObject(value as Record<string, unknown>, file);
}
