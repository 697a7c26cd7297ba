/**
 * `sidecar-bench compare BASE.json HEAD.json [--threshold 10%] [--metric p50|mean|throughput]`.
 * Prints a markdown table (and appends it to $GITHUB_STEP_SUMMARY when set). Exit 0: no regression;
 * 1: a cell regressed beyond the threshold with significance, or a cell that was ok in base failed;
 * 2: usage (bad flag, unreadable file, another schema version).
 */
import { parseArgs } from 'node:util';
import { relativeToFloor } from '../../reports/relative.js';
import { COMPARE_METRICS, compareResults, formatMarkdown, type CompareMetric } from '../../reports/compare.js';
import { HarnessError } from '../../transports/errors.js';
import { mannWhitneyU } from '../stats/mann-whitney.js';
import { loadResults } from './report.js';
import { appendStepSummary } from './step-summary.js';

const USAGE_LINE = 'Usage: sidecar-bench compare BASE.json HEAD.json [--threshold 10%] [--metric p50|mean|throughput] [--relative]';

export const COMPARE_HELP = `sidecar-bench compare: two saved runs, cell by cell (for trend reports)

${USAGE_LINE}

  --threshold P      a cell regresses when its change is beyond P (default 10%) and significant
  --metric M         p50 (default), mean, or throughput
  --relative         compare multiples of the floor measured in each run (native peer; the model
                     in-process) instead of microseconds

Each cell is matched by id; a change counts when a Mann-Whitney U test on the raw latency samples
gives p < 0.01 ("significant") and the change is beyond the threshold. Floors never gate.

Its limits: the two runs were measured at different times, and on a shared machine whose speed
drifts between minutes that alone moves cells by 25-75% (docs/ci-gate.md). Use it to see a trend
over releases; to gate a change, use \`sidecar-bench ab\`, which measures both versions in the same
rounds.

Exit codes: 0 no regression; 1 a cell regressed, or failed in head while ok in base; 2 usage.
`;
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
    process.stdout.write(COMPARE_HELP);
    return 0;
  }
  const files = parsed.positionals;
  if (files.length !== 2) throw new HarnessError('USAGE', `Expected two results files (base and head), got ${files.length}\n${USAGE_LINE}`);
  const thresholdPct = parsed.values.threshold === undefined ? DEFAULT_THRESHOLD_PCT : parseThreshold(parsed.values.threshold);
  const metric = parsed.values.metric === undefined ? 'p50' : parseMetric(parsed.values.metric);
  const [baseFile, headFile] = files as [string, string];
  let [base, head] = await Promise.all([loadResults(baseFile), loadResults(headFile)]);
  const relative = parsed.values.relative === true;
  if (relative) {
    // Latencies in units of the floor measured in the same run (reports/relative.ts).
    [base, head] = [relativeToFloor(base), relativeToFloor(head)];
    process.stdout.write('Values are multiples of the floor measured in the same run (native peer; in-process model).\n\n');
  }
  // The statistics live in the harness; the report module only compares and renders plain data.
  const comparison = compareResults(base, head, { thresholdPct, metric, unit: relative ? 'floor' : 'absolute' }, (a, b) => mannWhitneyU(a, b).pValue);
  const markdown = formatMarkdown(comparison);
  process.stdout.write(markdown);
  await appendStepSummary(markdown);
  return comparison.failed ? 1 : 0;
}
