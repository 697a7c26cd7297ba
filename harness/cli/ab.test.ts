/**
 * The regression gate end to end, as CI runs it: two real checkouts (a git worktree of a commit,
 * or a directory), a worker and real sidecars per side, the verdicts on disk and in the step
 * summary, the exit code. A head that is slower by a known amount (its sidecar busy-waits in every
 * request) must fail; a worker that dies must not lose what was measured.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AbComparison } from '../../reports/ab.js';
import type { RunResult } from '../results.js';
import { REPO_ROOT } from '../paths.js';
import { captureEnvironment } from '../environment.js';
import { main } from './main.js';

// On a machine whose sidecar torch has CUDA the refusal cannot be seen.
const cudaHere = (await captureEnvironment()).cudaAvailable;

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');
/** One small echo group on top of the gate's matrix: a few seconds. */
const ECHO = ['--suite', 'echo', '--transports', 'framed', '--warmup', '20', '--warmup-ms', '10', '--block-ms', '5', '--min-rounds', '12', '--max-rounds', '16'];

interface AbRecord {
  readonly status: string;
  readonly interrupted: boolean;
  readonly error?: { code: string; message: string };
  readonly thresholdPct: number;
  readonly replicas: number;
  readonly matrix: string[];
  readonly base: { commit: string | null };
  readonly head: { commit: string | null };
  readonly comparison: AbComparison;
}

async function outDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-ab-'));
}

const read = async <T,>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;
const verdict = (ab: AbRecord, transport: string) => ab.comparison.cells.find((c) => c.id.split('/')[2] === transport);

describe('sidecar-bench ab usage', () => {
  beforeEach(() => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  });
  afterEach(() => vi.restoreAllMocks());

  it('prints its help and exits 0', async () => {
    expect(await main(['ab', '--help'])).toBe(0);
    const text = vi.mocked(process.stdout.write).mock.calls.map((c) => String(c[0])).join('');
    expect(text).toContain('sidecar-bench ab: measure two versions');
    expect(text).toContain('--head-sidecar-arg');
    expect(text).toContain('Exit codes: 0 no regression; 1');
  });

  it('exits 2 on usage errors, before starting anything', async () => {
    const empty = await outDir();
    const cases = [
      ['ab'],
      ['ab', '--head', 'HEAD'],
      ['ab', '--base', 'HEAD', '--base-dir', REPO_ROOT, '--head', 'HEAD'],
      ['ab', '--base', 'no-such-ref-of-this-repository', '--head', 'HEAD'],
      ['ab', '--base-dir', empty, '--head-dir', REPO_ROOT],
      ['ab', '--base', 'HEAD', '--head', 'HEAD', '--threshold', 'ten'],
      ['ab', '--base', 'HEAD', '--head', 'HEAD', '--transports', 'carrier-pigeon'],
      ['ab', '--base', 'HEAD', '--head', 'HEAD', '--no-such-flag'],
      ['ab', '--base', 'HEAD', '--head', 'HEAD', '--head-python', '/no/such/python3'],
    ];
    for (const argv of cases) expect(await main(argv), argv.join(' ')).toBe(2);
    const errors = vi.mocked(process.stderr.write).mock.calls.map((c) => String(c[0])).join('');
    expect(errors).toContain('Expected exactly one of `--base REF` and `--base-dir DIR`');
    expect(errors).toContain('to name a commit of this repository');
    expect(errors).toContain('to be a sidecar-bench checkout');
    expect(errors).toContain('Expected `--head-python` to be a Python interpreter');
  });
});

describe('sidecar-bench ab', () => {
  it.skipIf(cudaHere)('exits 2, and leaves no worker behind, when a side refuses its options (`--device cuda` without CUDA)', async () => {
    const out = await outDir();
    const ab = await execa('node', [BIN, 'ab', '--base-dir', REPO_ROOT, '--head-dir', REPO_ROOT, '--suite', 'cifar', '--device', 'cuda', '--out', out], { reject: false, timeout: 120_000, env: { GITHUB_STEP_SUMMARY: '' } });
    expect(ab.exitCode, ab.stderr).toBe(2);
    expect(ab.stderr).toContain('asks for CUDA, but torch');
    const left = await execa('pgrep', ['-f', `ab-worker .*--device cuda`], { reject: false });
    expect(left.stdout.trim()).toBe('');
  }, 150_000);

  it('passes two worktrees of the same commit on the gate matrix, every cell of both sides measured in the same rounds', async () => {
    const out = await outDir();
    const summary = path.join(out, 'summary.md');
    const head = (await execa('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT })).stdout.trim();
    // Same code on both sides: at 50% only a broken gate could fail it.
    const ab = await execa('node', [BIN, 'ab', '--base', 'HEAD', '--head', head, '--threshold', '50%', '--min-rounds', '12', '--max-rounds', '20', '--limit', '200', '--out', out], { reject: false, env: { GITHUB_STEP_SUMMARY: summary } });
    expect(ab.exitCode, ab.stderr).toBe(0);
    const record = await read<AbRecord>(path.join(out, 'ab.json'));
    expect(record).toMatchObject({ status: 'ok', interrupted: false, thresholdPct: 50, replicas: 2, base: { commit: head }, head: { commit: head } });
    expect(record.matrix.slice(0, 4)).toEqual(['--quick', '--suite', 'echo,cifar', '--transports']);
    const ids = record.comparison.cells.map((c) => `${c.id.split('/')[0]}/${c.id.split('/')[2]}${c.gated ? '' : ' (control)'}`);
    expect(ids.sort()).toEqual(['cifar/framed', 'cifar/in-process (control)', 'cifar/msgpack', 'echo/framed', 'echo/msgpack']);
    for (const cell of record.comparison.cells) {
      expect(cell.ratio?.n ?? 0, cell.id).toBeGreaterThanOrEqual(12);
      expect(cell.verdict, cell.id).not.toBe('regressed');
    }
    const [base, headRun] = await Promise.all([read<RunResult>(path.join(out, 'base', 'results.json')), read<RunResult>(path.join(out, 'head', 'results.json'))]);
    expect([base.status, headRun.status]).toEqual(['ok', 'ok']);
    for (const cell of headRun.cells) {
      const other = base.cells.find((c) => c.id === cell.id);
      expect(other?.rounds?.map((r) => r.round), cell.id).toEqual(cell.rounds?.map((r) => r.round));
    }
    // Two replicas a side by default: each its own processes, each cell once per replica.
    expect(headRun.cells.filter((c) => c.id === 'echo/single-stream/framed/unix/payload=3072/c=1').map((c) => c.trial)).toEqual([0, 1]);
    expect(headRun.checks.map((c) => c.name)).toContain('cifar: accuracy (replica 1)');
    expect(headRun.checks.length).toBeGreaterThan(0);
    expect(headRun.checks.every((c) => c.ok)).toBe(true);
    expect(ab.stdout).toContain(`### sidecar-bench ab: head \`${head}\` (${head.slice(0, 10)}) against base \`HEAD\``);
    expect(await readFile(summary, 'utf8')).toContain('**ok**: none of 4 gated cells regressed.');
  }, 180_000);

  it('fails a head whose sidecar is slower by a known amount, and only that side is slowed', async () => {
    const out = await outDir();
    const ab = await execa('node', [BIN, 'ab', '--base-dir', REPO_ROOT, '--head-dir', REPO_ROOT, '--head-sidecar-arg=--inject-delay-us', '--head-sidecar-arg=100', ...ECHO, '--out', out], { reject: false, env: { GITHUB_STEP_SUMMARY: '' } });
    expect(ab.exitCode, ab.stderr).toBe(1);
    const record = await read<AbRecord>(path.join(out, 'ab.json'));
    expect(record.status).toBe('fail');
    const framed = verdict(record, 'framed');
    expect(framed).toMatchObject({ gated: true, verdict: 'regressed', significant: true });
    expect(framed?.ratio?.low ?? 0).toBeGreaterThan(1.5);
    // Only the head has the 100 us busy-wait: had both sides got it, the two would be alike. (No
    // absolute bound on the base: on a loaded machine its echo alone can take over 100 us.)
    expect((framed?.headUs ?? 0) - (framed?.baseUs ?? Infinity)).toBeGreaterThan(80);
    expect(ab.stdout).toContain('**FAIL**: 1 of 1 gated cells regressed or failed.');
  }, 120_000);

  it('keeps what was measured when a side dies mid-run, and says so', async () => {
    const out = await outDir();
    const seed = String(40_000 + Math.floor(Math.random() * 10_000));
    // The head runs from this directory and the base from a worktree, so the head's workers are the
    // ones started from this checkout's bin.js. Two groups (64 B, then 3 KiB) of 300 rounds each.
    const ab = execa('node', [BIN, 'ab', '--base', 'HEAD', '--head-dir', REPO_ROOT, ...ECHO, '--payloads', '64,3072', '--min-rounds', '300', '--max-rounds', '300', '--seed', seed, '--out', out], { reject: false, env: { GITHUB_STEP_SUMMARY: '' } });
    let stderr = '';
    ab.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    // Once the first group's cells are out, the head's worker is killed during the second.
    for (let i = 0; i < 1200 && !/head \(replica 1\):\n.*echo single-stream 64 B · /.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
    const ps = await execa('pgrep', ['-f', `^node ${BIN} ab-worker .*--seed ${seed}`], { reject: false });
    const pids = ps.stdout.trim().split('\n').filter((x) => x !== '');
    expect(pids, stderr).toHaveLength(2); // the head's two replicas
    process.kill(Number(pids[0]), 'SIGKILL');
    const result = await ab;
    expect(result.exitCode, stderr).toBe(1);
    const record = await read<AbRecord>(path.join(out, 'ab.json'));
    expect(record.status).toBe('fail');
    expect(record.error?.code).toBe('SIDECAR_CLOSED');
    expect(result.stdout).toContain('the run ended early, SIDECAR_CLOSED');
    // The first group was compared; the head's cell of the second failed while the base's did not.
    const cell = (payload: number) => record.comparison.cells.find((c) => c.id === `echo/single-stream/framed/unix/payload=${payload}/c=1`);
    expect(cell(64)?.ratio?.n).toBe(300);
    expect(cell(3072)?.verdict).toBe('failed');
    const headRun = await read<RunResult>(path.join(out, 'head', 'results.json'));
    expect(headRun.status).toBe('failed');
    expect(headRun.cells.filter((c) => c.payloadBytes === 64 && c.transport === 'framed').map((c) => [c.trial, c.status])).toEqual([[0, 'ok'], [1, 'ok']]);
  }, 180_000);
});
