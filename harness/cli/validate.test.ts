/**
 * Everything a run can be refused for is refused before its first cell, with exit 2, a message that
 * names the thing and the value, and no results written. Run as a user runs it: the CLI, a process.
 */
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatAddress } from '../../transports/address.js';
import { QUICK, resolveConfig } from '../config.js';
import { REPO_ROOT } from '../paths.js';
import { startSidecar, type Sidecar } from '../sidecar.js';
import { parseRunFlags } from './run-flags.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');

async function cli(args: string[]): Promise<{ code: number | undefined; stdout: string; stderr: string; out: string }> {
  const out = path.join(await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-validate-')), 'run');
  const child = await execa('node', [BIN, ...args, ...(args[0] === 'run' ? ['--out', out] : [])], { reject: false, timeout: 120_000 });
  return { code: child.exitCode, stdout: String(child.stdout), stderr: String(child.stderr), out };
}

/** A refusal: exit 2, exactly this message, and no results directory. */
async function refused(args: string[], message: string): Promise<void> {
  const r = await cli(args);
  expect(r.stderr.trim()).toBe(`sidecar-bench: USAGE: ${message}`);
  expect(r.code).toBe(2);
  expect(existsSync(r.out), 'nothing written').toBe(false);
}

async function configFile(value: unknown): Promise<string> {
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-config-')), 'bench.json');
  await writeFile(file, JSON.stringify(value));
  return file;
}

describe('run refuses before the first cell (exit 2, nothing written)', () => {
  it('an unknown config key, naming the nearest valid one', async () => {
    const suite = await configFile({ suite: ['echo'] });
    await refused(['run', '--config', suite], `Unknown key \`suite\` in \`--config ${suite}\`. Did you mean \`suites\`? The keys are: ${(await import('../config.js')).OPTION_KEYS.join(', ')}`);
    const bogus = await configFile({ bogusKey: 1 });
    const r = await cli(['run', '--config', bogus]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^sidecar-bench: USAGE: Unknown key `bogusKey` in `--config \S+bench.json`\. The keys are: suites, transports, /);
  }, 60_000);

  it('`--device tpu`, for every suite alike', async () => {
    for (const suite of ['echo', 'cifar']) await refused(['run', '--suite', suite, '--device', 'tpu'], 'Expected `--device` to be cpu, cuda, cuda:N or auto, got `tpu`');
  }, 60_000);

  it('a `--connect` address that is not one', async () => {
    await refused(['run', '--connect', 'foo:bar'], 'Expected `--connect` to be an address like `unix:/path/to.sock` or `tcp:127.0.0.1:7000`, got `foo:bar`');
  }, 60_000);

  it('a negative number, in the flag\'s own words rather than the parser\'s', async () => {
    await refused(['run', '--concurrency', '-3'], 'Expected `--concurrency` to be positive integers, got `-3`');
    await refused(['run', '--concurrency'], 'Expected a value after `--concurrency` (a value that starts with a dash goes as `--concurrency=VALUE`) (`sidecar-bench run --help` lists the options)');
  }, 60_000);

  it('a mistyped flag, naming the nearest', async () => {
    await refused(['run', '--suit', 'echo'], 'Unknown option `--suit` for `sidecar-bench run`. Did you mean `--suite`? (`sidecar-bench run --help` lists the options)');
  }, 60_000);
});

describe('run --connect: the first handshake names the wire it found', () => {
  let framed: Sidecar;
  let address: string;
  beforeAll(async () => {
    framed = await startSidecar({ model: 'echo', transport: 'framed', family: 'tcp' });
    address = formatAddress(framed.address);
  }, 60_000);
  afterAll(async () => framed.stop());

  it('a framed server measured as grpc: "does not speak grpc", "answered like framed"', async () => {
    await refused(['run', '--connect', address, '--transports', 'grpc'], `\`--connect ${address}\` does not speak grpc (its grpc echo got CONNECT_FAILED); it answered like framed; measure it with \`--transports framed\``);
  }, 60_000);

  it('nothing listening', async () => {
    await refused(['run', '--connect', 'unix:/nonexistent/sidecar.sock'], 'Nothing accepts connections at `--connect unix:/nonexistent/sidecar.sock` (ENOENT); start the server first, or check the address');
  }, 60_000);

  it('left to the default transports, it measures the wire the server speaks, and says so', async () => {
    const r = await cli(['run', '--connect', address, '--scenarios', 'single-stream', '--payloads', '64', '--warmup', '5', '--warmup-ms', '5', '--block-ms', '2', '--min-rounds', '6', '--max-rounds', '6']);
    expect(r.stderr).toContain(`--connect ${address} speaks framed: measuring that wire only`);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(await readFile(path.join(r.out, 'results.json'), 'utf8')) as { cells: { transport: string }[] };
    expect(result.cells.map((c) => c.transport)).toEqual(['framed']);
    // The answer table comes at the end of every run, then the files.
    expect(r.stderr).toMatch(/The answer for echo[\s\S]*Results:\n {2}\S+results\.json/);
  }, 120_000);
});

describe('config files and --quick', () => {
  it('take sizes as the CLI does: "payloadBytes": ["64KiB"]', async () => {
    const file = await configFile({ payloadBytes: ['64KiB', 3072, '1MiB'] });
    const { options } = await parseRunFlags(['--config', file]);
    expect(resolveConfig(options).payloadBytes).toEqual([65_536, 3072, 1_048_576]);
    expect((await parseRunFlags(['--payloads', '64KiB,3072,1MiB'])).options.payloadBytes).toEqual([65_536, 3072, 1_048_576]);
  });

  it('--quick with --connect leaves the suites alone (one server serves one model)', () => {
    expect(resolveConfig({ quick: true, connect: 'tcp:127.0.0.1:7000' }).suites).toEqual(['echo']);
    expect(resolveConfig({ quick: true }).suites).toEqual(QUICK.suites);
  });
});

describe('--version and --help', () => {
  it('--version prints package.json\'s version', async () => {
    const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await cli(['--version']);
    expect([r.code, r.stdout]).toEqual([0, `sidecar-bench ${pkg.version}`]);
  });

  it('every command has its own --help, and run\'s quotes the numbers in the code', async () => {
    const run = await cli(['run', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^sidecar-bench run: /);
    expect(run.stdout).toContain(`${QUICK.limit} CIFAR images`);
    expect(run.stdout).toContain(`rounds ${QUICK.minRounds}-${QUICK.maxRounds}`);
    for (const [command, first] of [['ab', /^sidecar-bench ab: /], ['report', /^Usage: sidecar-bench report /], ['compare', /^sidecar-bench compare: /], ['classify', /^Usage: sidecar-bench classify /], ['datasets', /^Usage:/]] as const) {
      const r = await cli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toMatch(first);
    }
  }, 60_000);
});

describe('reports/latest', () => {
  it('stays where it was when a run measured no cell', async () => {
    const link = path.join(REPO_ROOT, 'reports', 'latest');
    const runs = path.join(REPO_ROOT, 'reports', 'runs');
    const before = await readlink(link).catch(() => 'absent');
    const existing = new Set(await readdir(runs).catch(() => []));
    // The sidecar refuses the flag and never starts: every cell fails.
    const child = await execa('node', [BIN, 'run', '--suite', 'echo', '--transports', 'framed', '--families', 'unix', '--no-calibration', '--scenarios', 'single-stream', '--payloads', '64', '--sidecar-arg=--no-such-flag'], { reject: false, timeout: 120_000 });
    const ours = async (name: string): Promise<boolean> => !existing.has(name) && (await readFile(path.join(runs, name, 'results.json'), 'utf8').catch(() => '')).includes('--no-such-flag');
    try {
      expect(child.exitCode, child.stderr).toBe(1);
      expect(child.stderr).toContain('reports/latest was left where it was: this run measured no cell');
      expect(await readlink(link).catch(() => 'absent')).toBe(before);
    } finally {
      for (const name of await readdir(runs).catch(() => [])) if (await ours(name)) await rm(path.join(runs, name), { recursive: true, force: true });
    }
  }, 120_000);
});
