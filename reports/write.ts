/** Writing a run's files: results.json, results.csv, report.html, and the reports/latest link. */
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RunResult } from '../harness/results.js';
import { toCsv } from './csv.js';

export interface WrittenFiles {
  readonly json: string;
  readonly csv: string;
  readonly html?: string;
}

/** Atomic replace, so a reader (or a crash mid-write) never sees half a file. */
async function writeAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

/**
 * Load the HTML report's code now. A run calls this before it starts: the harness runs its
 * TypeScript through tsx, whose compiler is a child process, and a Ctrl-C from a terminal (SIGINT
 * to the whole process group) ends that child, so a module first imported after it cannot load.
 */
export async function preloadReport(): Promise<void> {
  await import('./html.js');
}

export async function writeResults(dir: string, result: RunResult, options: { html?: boolean } = {}): Promise<WrittenFiles> {
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, 'results.json');
  const csv = path.join(dir, 'results.csv');
  await writeAtomic(json, `${JSON.stringify(result)}\n`); // compact: sample arrays dominate the size
  await writeAtomic(csv, toCsv(result.cells));
  if (options.html !== true) return { json, csv };
  const { renderReport } = await import('./html.js');
  const html = path.join(dir, 'report.html');
  await writeAtomic(html, await renderReport(result));
  return { json, csv, html };
}

/** Point `reports/latest` at `dir` (a relative symlink, replaced atomically). */
export async function linkLatest(reportsDir: string, dir: string): Promise<void> {
  const link = path.join(reportsDir, 'latest');
  const tmp = `${link}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  await symlink(path.relative(reportsDir, dir), tmp);
  await rename(tmp, link);
}
