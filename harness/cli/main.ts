/**
 * `sidecar-bench <command>`. Exit codes: 0 ok, 1 the run failed (or a regression was found),
 * 2 usage error. Commands load lazily so `--help` and `compare` never import the transports.
 */
import { toHarnessError } from '../../transports/errors.js';
import { HELP } from './help.js';
import { didYouMean } from './nearest.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.js')).runCommand,
  report: async () => (await import('./report.js')).reportCommand,
  compare: async () => (await import('./compare.js')).compareCommand,
  ab: async () => (await import('./ab.js')).abCommand,
  // Internal: one side of \`ab\`, started by it (harness/ab/worker.ts).
  'ab-worker': async () => (await import('../ab/worker.js')).abWorkerCommand,
  classify: async () => (await import('./classify.js')).classifyCommand,
  datasets: async () => (await import('./datasets.js')).datasetsCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`sidecar-bench ${(await import('../environment.js')).harnessVersion()}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    const near = didYouMean(name, Object.keys(COMMANDS).filter((c) => c !== 'ab-worker'));
    process.stderr.write(`sidecar-bench: unknown command \`${name}\`.${near}\n\n${HELP}`);
    return 2;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    const e = toHarnessError(error);
    process.stderr.write(`sidecar-bench: ${e.code}: ${e.message}\n`);
    return e.code === 'USAGE' ? 2 : 1;
  }
}

