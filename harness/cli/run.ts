/** `sidecar-bench run`: resolve the config, run the matrix, write results as they come. */
import path from 'node:path';
import { adviceFor } from '../../reports/advice.js';
import { linkLatest, writeResults } from '../../reports/write.js';
import { resolveConfig } from '../config.js';
import { REPO_ROOT } from '../paths.js';
import { createProgress } from '../progress.js';
import { runBenchmark } from '../runner.js';
import { stopAllSidecars } from '../sidecar.js';
import { HELP } from './main.js';
import { parseRunFlags } from './run-flags.js';

function defaultOutDir(): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return path.join(REPO_ROOT, 'reports', 'runs', stamp);
}

export async function runCommand(argv: string[]): Promise<number> {
  const { options, help } = await parseRunFlags(argv);
  if (help) {
    process.stdout.write(HELP);
    return 0;
  }
  const config = resolveConfig(options);
  const out = path.resolve(config.out ?? defaultOutDir());
  const progress = createProgress();
  const abort = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts += 1;
    if (interrupts === 1) {
      progress.log('interrupted: finishing the cell in progress, writing results, stopping sidecars (Ctrl-C again to quit now)');
      abort.abort();
      return;
    }
    void stopAllSidecars().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runBenchmark({
      config,
      argv: ['run', ...argv],
      signal: abort.signal,
      progress,
      onUpdate: async (partial) => {
        await writeResults(out, partial);
      },
    });
    const files = await writeResults(out, result, { html: true });
    if (config.out === undefined) await linkLatest(path.join(REPO_ROOT, 'reports'), out);
    for (const check of result.checks) progress.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
    const advice = adviceFor(result);
    progress.log(advice.headline);
    for (const line of advice.lines) progress.log(`  ${line}`);
    const failed = result.cells.filter((c) => c.status === 'failed').length;
    progress.log(`${result.cells.length} cells (${failed} failed), status ${result.status}\n  ${files.json}\n  ${files.csv}${files.html === undefined ? '' : `\n  ${files.html}`}`);
    return result.status === 'ok' ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAllSidecars();
  }
}
