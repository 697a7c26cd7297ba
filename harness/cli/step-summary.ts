/** Appending a markdown table to the GitHub Actions job summary, when there is one. */
import { appendFile } from 'node:fs/promises';

/** Append `markdown` to `$GITHUB_STEP_SUMMARY` when it is set; a failure is reported, not fatal. */
export async function appendStepSummary(markdown: string): Promise<void> {
  const summary = process.env['GITHUB_STEP_SUMMARY'];
  if (summary === undefined || summary === '') return;
  try {
    await appendFile(summary, `${markdown}\n`);
  } catch (error) {
    process.stderr.write(`sidecar-bench: could not append to $GITHUB_STEP_SUMMARY (${summary}): ${(error as Error).message}\n`);
  }
}
