/**
 * `sidecar-bench compare BASE.json HEAD.json [--threshold 10%] [--metric p50|mean|throughput]`.
 * Prints a markdown table (and appends it to $GITHUB_STEP_SUMMARY when set). Exit 0: no regression;
 * 1: a cell regressed beyond the threshold with significance, or a cell that was ok in base failed;
 * 2: usage (bad flag, unreadable file, another schema version).
 */
import { appendFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { relativeToFloor } from '../../reports/relative.js';
import { COMPARE_METRICS, compareResults, formatMarkdown, type CompareMetric } from '../../reports/compare.js';
import { HarnessError } from '../errors.js';
import { loadResults } from './report.js';

const USAGE_LINE = 'Usage: sidecar-bench compare BASE.json HEAD.json [--threshold 10%] [--metric p50|mean|throughput] [--relative]';
const DEFAULT_THRESHOLD_PCT = 10;

/** `10%` or `10` (both mean ten percent). */
export function parseThreshold(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  const pct = m === null ? Number.NaN : Number(m[1]);
  if (!Number.isFinite(pct) || pct >= 1000) throw new HarnessError('USAGE', `Expected \`--threshold\` to be a percentage like 10% (0 to 999), got \`${text}\``);
  return pct;
}

function parseMetric(text: string): CompareMetric {
  if ((COMPARE_METRICS as readonly string[]).includes(text)) return text as CompareMetric;
  throw new HarnessError('USAGE', `Expected \`--metric\` to be one of ${COMPARE_METRICS.join(', ')}, got \`${text}\``);
}

export async function compareCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { threshold: { type: 'string' }, metric: { type: 'string' }, relative: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new HarnessError('USAGE', `${(error as Error).message}\n${USAGE_LINE}`, { cause: error });
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${USAGE_LINE}\n`);
    return 0;
  }
  const files = parsed.positionals;
  if (files.length !== 2) throw new HarnessError('USAGE', `Expected two results files (base and head), got ${files.length}\n${USAGE_LINE}`);
  const thresholdPct = parsed.values.threshold === undefined ? DEFAULT_THRESHOLD_PCT : parseThreshold(parsed.values.threshold);
  const metric = parsed.values.metric === undefined ? 'p50' : parseMetric(parsed.values.metric);
  const [baseFile, headFile] = files as [string, string];
  let [base, head] = await Promise.all([loadResults(baseFile), loadResults(headFile)]);
  if (parsed.values.relative === true) {
    // Latencies in units of the floor measured in the same run (reports/relative.ts).
    [base, head] = [relativeToFloor(base), relativeToFloor(head)];
    process.stdout.write('Values are multiples of the floor measured in the same run (native peer; in-process model).\n\n');
  }
  const comparison = compareResults(base, head, { thresholdPct, metric });
  const markdown = formatMarkdown(comparison);
  process.stdout.write(markdown);
  const summary = process.env['GITHUB_STEP_SUMMARY'];
  if (summary !== undefined && summary !== '') {
    try {
      await appendFile(summary, `${markdown}\n`);
    } catch (error) {
      process.stderr.write(`sidecar-bench: could not append to $GITHUB_STEP_SUMMARY (${summary}): ${(error as Error).message}\n`);
    }
  }
  return comparison.failed ? 1 : 0;
}
