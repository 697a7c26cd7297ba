/**
 * Every way out of a real `run` (a second Ctrl-C, SIGHUP, an output that closes, an uncaught
 * error, SIGKILL) leaves results.json with the true status and no sidecar, C echo peer or
 * temporary directory behind. The processes a run started are found by a tag in their
 * environment, which they inherit.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../paths.js';
import type { RunResult } from '../results.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');
// Eight short groups, each the framed sidecar with the C echo peer and client beside it.
const ARGS = ['--suite', 'echo', '--transports', 'framed', '--families', 'unix', '--scenarios', 'single-stream', '--payloads', '0,16,64,256,1024,3072,8192,65536'];
const FAST = ['--warmup', '20', '--warmup-ms', '10', '--block-ms', '5', '--min-rounds', '6', '--max-rounds', '8', '--cpu-pinning', 'off'];

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

// Loaded into the harness before it starts: SIGUSR2 makes an error nothing catches, as a bug would.
const PLANT_BUG = "--import=data:text/javascript,process.on('SIGUSR2',()=>setImmediate(()=>{throw new Error('planted')}))";

interface StartOptions {
  /** Its own process group, as a shell gives a command. */
  readonly detached?: boolean;
  readonly env?: Readonly<Record<string, string>>;
}

const spawnRun = (out: string, tag: string, options: StartOptions) =>
  execa('node', [PLANT_BUG, BIN, 'run', ...ARGS, ...FAST, '--out', out], { reject: false, buffer: false, stdout: 'pipe', stderr: 'pipe', detached: options.detached === true, env: { ...options.env, SIDECAR_BENCH_TEST_TAG: tag } });

/** A run writing into a fresh directory, its processes tagged with that directory's name. */
async function start(options: StartOptions = {}): Promise<{ child: ReturnType<typeof spawnRun>; out: string; tag: string; stderr: () => string }> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-exit-'));
  const tag = path.basename(out);
  dirs.push(out);
  const child = spawnRun(out, tag, options);
  let stderr = '';
  child.stdout.resume(); // drained, so a full pipe never stalls the run
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return { child, out, tag, stderr: () => stderr };
}

/** No process of the run left, and no sidecar or peer directory. */
async function expectNothingLeft(tag: string, final: RunResult | undefined): Promise<void> {
  expect(await leftBehind(tag)).toEqual([]);
  expect(socketDirs(final!).filter((d) => existsSync(d))).toEqual([]);
}

async function readResults(out: string): Promise<RunResult | undefined> {
  try {
    return JSON.parse(await readFile(path.join(out, 'results.json'), 'utf8')) as RunResult;
  } catch {
    return undefined; // not written yet, or written as we read (never half: it is renamed into place)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until the run has written its first cells: mid-run, with its sidecar and peer up. */
async function firstCells(out: string): Promise<RunResult> {
  for (let i = 0; i < 600; i++) {
    const result = await readResults(out);
    if (result !== undefined && result.cells.length > 0) return result;
    await sleep(25);
  }
  throw new Error('the run wrote no cell within 15 s');
}

/** Pids of the live processes whose environment carries `tag`. */
async function tagged(tag: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, 'latin1').catch(() => '');
    if (environ.split('\0').includes(`SIDECAR_BENCH_TEST_TAG=${tag}`)) pids.push(Number(entry));
  }
  return pids;
}

/** The processes left behind once they have had `ms` to go. */
async function leftBehind(tag: string, ms = 3000): Promise<number[]> {
  let pids = await tagged(tag);
  for (let waited = 0; pids.length > 0 && waited < ms; waited += 100) {
    await sleep(100);
    pids = await tagged(tag);
  }
  for (const pid of pids) process.kill(pid, 'SIGKILL'); // not to leave them to the next test
  return pids;
}

/** The sidecars' and peer's private directories, from the ready lines the cells carry. */
function socketDirs(result: RunResult): string[] {
  const addresses = result.cells.map((c) => c.sidecar?.['address']).filter((a): a is string => typeof a === 'string' && a.startsWith('unix:'));
  return [...new Set(addresses.map((a) => path.dirname(a.slice('unix:'.length))))];
}

describe('sidecar-bench run, on its way out', () => {
  it('on a second Ctrl-C quits at once: results.json says interrupted with the cells measured, nothing left behind', async () => {
    const { child, out, tag } = await start();
    const seen = await firstCells(out);
    child.kill('SIGINT');
    await sleep(5); // two signals, not one: pending signals of a kind merge
    child.kill('SIGINT');
    const done = await child;
    expect(done.exitCode).toBe(130);
    const final = await readResults(out);
    expect(final?.status).toBe('interrupted');
    expect(final?.cells.length ?? 0).toBeGreaterThanOrEqual(seen.cells.length);
    expect(final?.cells.map((c) => c.id).slice(0, seen.cells.length)).toEqual(seen.cells.map((c) => c.id));
    await expectNothingLeft(tag, final);
  }, 30_000);

  it('on Ctrl-C from a terminal (SIGINT to its whole process group) ends in order, report included', async () => {
    // The group's SIGINT also reaches tsx's esbuild service. Without tsx's cache every module still
    // to be loaded at the end goes through that service.
    const { child, out, tag, stderr } = await start({ detached: true, env: { TSX_DISABLE_CACHE: '1' } });
    await firstCells(out);
    process.kill(-child.pid!, 'SIGINT');
    const done = await child;
    expect(done.exitCode, stderr()).toBe(1);
    expect(stderr()).not.toContain('The service is no longer running');
    expect((await readResults(out))?.status).toBe('interrupted');
    expect(existsSync(path.join(out, 'report.html'))).toBe(true);
    expect(await leftBehind(tag)).toEqual([]);
  }, 60_000);

  it('on SIGHUP ends in order, stopping the sidecar and the C echo peer', async () => {
    const { child, out, tag } = await start();
    const seen = await firstCells(out);
    expect(seen.status).toBe('running'); // mid-run, the file never claims ok
    child.kill('SIGHUP');
    await child;
    const final = await readResults(out);
    expect(final?.status).toBe('interrupted');
    await expectNothingLeft(tag, final);
  }, 30_000);

  it('when its output closes (`run 2>&1 | head -1`) ends in order and leaves nothing behind', async () => {
    const { child, out, tag } = await start();
    await firstCells(out);
    child.stdout.destroy();
    child.stderr.destroy(); // the next progress line meets a pipe nobody reads: EPIPE
    const done = await child;
    expect(done.exitCode).not.toBe(0);
    const final = await readResults(out);
    expect(final?.status).toBe('interrupted');
    await expectNothingLeft(tag, final);
  }, 30_000);

  it('on an uncaught error writes status failed with a harness check, and leaves nothing behind', async () => {
    const { child, out, tag } = await start();
    const seen = await firstCells(out);
    child.kill('SIGUSR2');
    const done = await child;
    expect(done.exitCode).toBe(1);
    const final = await readResults(out);
    expect(final?.status).toBe('failed');
    expect(final?.checks.find((c) => c.name === 'harness')).toMatchObject({ ok: false, detail: expect.stringMatching(/^INTERNAL: planted/) });
    expect(final?.cells.length ?? 0).toBeGreaterThanOrEqual(seen.cells.length);
    await expectNothingLeft(tag, final);
  }, 30_000);

  it('killed (SIGKILL), leaves results.json saying running, and its sidecar and peer end with it', async () => {
    const { child, out, tag } = await start();
    await firstCells(out);
    child.kill('SIGKILL');
    await child;
    const final = await readResults(out);
    expect(final?.status).toBe('running');
    expect(await leftBehind(tag, 5000)).toEqual([]);
    await Promise.all(socketDirs(final!).map((d) => rm(d, { recursive: true, force: true }))); // what a SIGKILL cannot clean
  }, 30_000);
});
