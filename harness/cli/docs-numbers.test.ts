/** The defaults the docs quote are the program's: read from harness/config.ts, never copied by hand. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FULL, QUICK } from '../config.js';
import { REPO_ROOT } from '../paths.js';

const doc = (name: string): Promise<string> => readFile(path.join(REPO_ROOT, 'docs', name), 'utf8');

describe('numbers in docs/', () => {
  it('reading-the-report.md quotes the block length and stability tolerance the code uses', async () => {
    const text = (await doc('reading-the-report.md')).replace(/\s+/g, ' ');
    expect(text).toContain(`block** (${QUICK.blockMs} ms by default with \`--quick\``);
    expect(text).toContain(`\`--stability-pct\` of the estimate, ${FULL.stabilityPct}% by default`);
  });

  it('no doc speaks of bootstrap resamples, which the code does not take (intervals are order statistics)', async () => {
    for (const name of ['reading-the-report.md', 'results-schema.md', 'architecture.md']) expect(await doc(name), name).not.toMatch(/\d+ (bootstrap )?resamples/i);
  });
});
