/**
 * `sidecar-bench ab-worker [run options]` (internal): one side of an A/B comparison. It runs the
 * suites with this checkout's own sidecars and clients, but instead of measuring a group itself it
 * opens the group's arms, announces them on stdout, and runs the blocks its coordinator sends on
 * stdin (harness/ab/protocol.ts), so two workers' groups interleave round by round. It ends when
 * its suites are done, or when its stdin closes.
 */
import { resolveConfig } from '../config.js';
import { harnessVersion } from '../environment.js';
import { HarnessError, toHarnessError } from '../../transports/errors.js';
import { lineReader, type LineReader } from '../lines.js';
import { runBenchmark } from '../runner.js';
import { keyOf, type CellResult } from '../results.js';
import type { SuiteContext } from '../suites/context.js';
import { crashAware, openArms, type GroupArm, type GroupPlan } from '../suites/group.js';
import { parseRunFlags } from '../cli/run-flags.js';
import { AB_PROTOCOL, toWireBlock, type Command, type WorkerEvent } from './protocol.js';

/** As long as a timer can wait: the coordinator may take its time between commands. */
const FOREVER_MS = 2 ** 31 - 1;

function send(event: WorkerEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function nextCommand(commands: LineReader, stop: AbortController): Promise<Command | undefined> {
  const got = await commands.next(FOREVER_MS);
  if (!('line' in got)) {
    stop.abort(); // the coordinator is gone: finish the run without measuring anything more
    return undefined;
  }
  try {
    return JSON.parse(got.line) as Command;
  } catch (error) {
    throw new HarnessError('PROTOCOL_ERROR', `Expected a JSON command from the ab coordinator, got \`${got.line.slice(0, 200)}\``, { cause: error });
  }
}

/** Measure a group the coordinator's way: open, announce, run the blocks asked for, close. Emits nothing. */
function remoteGroup(commands: LineReader, stop: AbortController) {
  return async (ctx: SuiteContext, arms: readonly GroupArm[], plan: GroupPlan): Promise<CellResult[]> => {
    if (ctx.signal.aborted || arms.length === 0) return [];
    const layout = typeof plan.pinned === 'string' ? plan.pinned : undefined;
    const run = async (pinning: string | undefined): Promise<CellResult[]> => {
      const { live, failed } = await openArms(ctx, arms);
      const { pinned: _, ...wirePlan } = plan;
      send({
        event: 'group',
        plan: wirePlan,
        ...(pinning === undefined ? {} : { pinning }),
        arms: [
          ...live.map((l) => ({ id: l.id, key: l.arm.key, ...(l.arm.floor === undefined ? {} : { floor: l.arm.floor }), ...(l.arm.model === undefined ? {} : { model: l.arm.model }), ...(l.opened.facts === undefined ? {} : { facts: l.opened.facts }) })),
          ...failed.map((c) => ({ id: c.id, key: keyOf(c), error: { code: c.error?.code ?? 'INTERNAL', message: c.error?.message ?? '' } })),
        ],
      });
      try {
        for (let command = await nextCommand(commands, stop); command !== undefined && command.op === 'block'; command = await nextCommand(commands, stop)) {
          const arm = live.find((l) => l.id === command?.id);
          if (arm === undefined) throw new HarnessError('PROTOCOL_ERROR', `The ab coordinator asked for a block of \`${command.id}\`, which this group does not have`);
          const block = await arm.opened.block(command.round);
          if (block.abortedBy !== undefined) block.abortedBy = await crashAware(arm.opened, block.abortedBy);
          send({ event: 'block', id: command.id, round: command.round, block: toWireBlock(block) });
        }
      } finally {
        await Promise.all(live.map((l) => l.opened.close().catch(() => undefined)));
      }
      return [];
    };
    return plan.pinned === undefined || plan.pinned === false ? run(undefined) : ctx.pinned(run, layout);
  };
}

export async function abWorkerCommand(argv: string[]): Promise<number> {
  const { options } = await parseRunFlags(argv);
  const config = resolveConfig(options);
  const commands = lineReader(process.stdin);
  const stop = new AbortController();
  process.on('SIGINT', () => stop.abort());
  process.on('SIGTERM', () => stop.abort());
  send({ event: 'hello', protocol: AB_PROTOCOL, harnessVersion: harnessVersion() });
  const quiet = { start: () => undefined, done: () => undefined, plan: () => undefined, log: (m: string) => void process.stderr.write(`${m}\n`) };
  let result;
  try {
    result = await runBenchmark({ config, argv: ['ab-worker', ...argv], signal: stop.signal, progress: quiet, measureGroup: remoteGroup(commands, stop) });
  } catch (error) {
    // Said to the coordinator, which ends the run with it; stdin is let go so this process can exit.
    const e = toHarnessError(error);
    send({ event: 'failed', code: e.code, message: e.message });
    process.stdin.destroy();
    return e.code === 'USAGE' ? 2 : 1;
  }
  send({ event: 'done', status: result.status, checks: result.checks, environment: { ...result.environment } });
  return 0;
}
