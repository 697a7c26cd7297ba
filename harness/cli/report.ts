/** `sidecar-bench report RESULTS.json [--out DIR]`: regenerate results.csv and report.html from saved results. */
import { readFile, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { answerText } from '../../reports/answer.js';
import { toCsv } from '../../reports/csv.js';
import { HarnessError } from '../../transports/errors.js';
import { RESULTS_SCHEMA_VERSION, type RunResult } from '../results.js';

const USAGE_LINE = 'Usage: sidecar-bench report RESULTS.json [--out DIR]';

/**
 * Read a results.json and check it is a schema-1 document. Every failure is a USAGE error (exit 2):
 * the file named on the command line is the problem, not the harness.
 */
export async function loadResults(file: string): Promise<RunResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new HarnessError('USAGE', `Cannot read results file \`${file}\`: ${(error as Error).message}`, { cause: error });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new HarnessError('USAGE', `Expected \`${file}\` to be JSON (a results.json): ${(error as Error).message}`, { cause: error });
  }
  const record = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  if (!('schemaVersion' in record)) throw new HarnessError('USAGE', `Expected \`${file}\` to be a sidecar-bench results.json (it has no \`schemaVersion\`)`);
  if (record['schemaVersion'] !== RESULTS_SCHEMA_VERSION) {
    throw new HarnessError('USAGE', `Expected \`${file}\` to have results schema version ${RESULTS_SCHEMA_VERSION}, got \`${JSON.stringify(record['schemaVersion'])}\` (written by another harness version)`);
  }
  for (const [key, ok] of [['cells', Array.isArray(record['cells'])], ['checks', Array.isArray(record['checks'])], ['environment', typeof record['environment'] === 'object' && record['environment'] !== null], ['config', typeof record['config'] === 'object' && record['config'] !== null]] as const) {
    if (!ok) throw new HarnessError('USAGE', `Expected \`${file}\` to hold \`${key}\` (schema version ${RESULTS_SCHEMA_VERSION}), but it is missing or malformed`);
  }
  return doc as RunResult;
}

/** Write through a temporary file and rename, so a reader never sees half a report. */
async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

export async function reportCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (error) {
    throw new HarnessError('USAGE', `${(error as Error).message}\n${USAGE_LINE}`, { cause: error });
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${USAGE_LINE}\n\nRegenerate results.csv and report.html from a saved results.json (e.g. reports/latest/results.json)\nafter the report code changed, or on another machine.\n\n  --out DIR   where the two files go (default: beside RESULTS.json)\n`);
    return 0;
  }
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || extra.length > 0) {
    throw new HarnessError('USAGE', `Expected one results file, got ${parsed.positionals.length === 0 ? 'none' : `\`${parsed.positionals.join(' ')}\``}\n${USAGE_LINE}`);
  }
  const result = await loadResults(file);
  const out = path.resolve(parsed.values.out ?? path.dirname(file));
  await mkdir(out, { recursive: true });
  const { renderReport } = await import('../../reports/html.js');
  const csv = path.join(out, 'results.csv');
  const html = path.join(out, 'report.html');
  await writeAtomic(csv, toCsv(result.cells));
  await writeAtomic(html, await renderReport(result));
  process.stdout.write(`${answerText(result)}\n${csv}\n${html}\n`);
  return 0;
}
