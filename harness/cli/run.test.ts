/**
 * The CLI end to end, as a user runs it: real sidecars, real sockets, results on disk. Covers the
 * reliability promises: a crashing or hanging sidecar fails its cells with a code while the rest
 * of the matrix runs; Ctrl-C keeps what was measured and leaves no sidecar behind.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { RunResult } from '../results.js';
import { REPO_ROOT } from '../paths.js';
import { alive } from '../testing.js';
import { captureEnvironment } from '../environment.js';

const BIN = path.join(REPO_ROOT, 'harness', 'bin.js');
// On a machine whose sidecar torch has CUDA the refusal cannot be seen.
const cudaHere = (await captureEnvironment()).cudaAvailable;
const FAST = ['--warmup', '20', '--warmup-ms', '10', '--block-ms', '5', '--min-rounds', '6', '--max-rounds', '8'];

async function outDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'sidecar-bench-cli-'));
}

async function readResults(dir: string): Promise<RunResult> {
  return JSON.parse(await readFile(path.join(dir, 'results.json'), 'utf8')) as RunResult;
}


describe('sidecar-bench run', () => {
  it('writes real echo rows for framed over unix and tcp, interleaved with the 2x2 floor, the lean client and the no-op', async () => {
    const out = await outDir();
    const run = await execa('node', [BIN, 'run', '--suite', 'echo', '--transports', 'framed', '--payloads', '0,3072', '--concurrency', '4', '--scenarios', 'single-stream,concurrency', ...FAST, '--out', out], { reject: false });
    expect(run.exitCode, run.stderr).toBe(0);
    const result = await readResults(out);
    expect(result.status).toBe('ok');
    const find = (transport: string, family: string, payload: number) => result.cells.find((c) => c.transport === transport && c.family === family && c.scenario === 'single-stream' && c.payloadBytes === payload);
    for (const family of ['unix', 'tcp']) {
      const group = find('framed', family, 3072)?.group;
      expect(group).toBe(`echo single-stream 3072 B ${family}`);
      for (const transport of ['framed', 'native-peer', 'native-pair', 'native-client', 'lean-node']) {
        const cell = find(transport, family, 3072);
        expect(cell?.status, transport).toBe('ok');
        expect(cell?.group, transport).toBe(group);
        expect(cell?.rounds?.length ?? 0, transport).toBeGreaterThanOrEqual(6);
        expect(cell?.latency?.p50Us ?? 0).toBeGreaterThan(0);
      }
      // Every cell of a group ran in the same rounds, in a shuffled order.
      const rounds = result.cells.filter((c) => c.group === group).map((c) => c.rounds?.map((r) => r.round).join(','));
      expect(new Set(rounds).size).toBe(1);
      expect(find('framed', family, 3072)?.floor).toMatchObject({ floor: 'native-peer', strict: true });
      expect(find('native-client', family, 3072)?.floor?.floor).toBe('native-pair');
      expect(find('framed', family, 3072)?.floor?.estimate ?? 0).toBeGreaterThan(0.5);
    }
    expect(result.cells.find((c) => c.transport === 'no-op')?.status).toBe('ok');
    expect(result.cells.find((c) => c.scenario === 'concurrency' && c.transport === 'framed')?.floor?.strict).toBe(false);
    const csv = await readFile(path.join(out, 'results.csv'), 'utf8');
    expect(csv.split('\n')[0]).toContain('suite,scenario,transport,family,http_setup,wire,payload_bytes,concurrency,batch');
    expect(csv.split('\n')[0]).toContain('floor,floor_ratio,floor_ratio_ci_low,floor_ratio_ci_high');
    expect(csv).toMatch(/\necho,single-stream,framed,tcp,,,3072,1,/);
    expect(csv).toMatch(/\necho,single-stream,lean-node,unix,,framed,3072,1,/);
    expect(result.environment.cores).toBeGreaterThan(0);
    expect(run.stderr).toMatch(/stable: \d+ of \d+/);
  }, 120_000);

  it('fails the cells of a sidecar that crashes mid-run, runs the rest, writes results, exits 1', async () => {
    const out = await outDir();
    // 30 requests: fewer than any cell sends (20 warm-up requests, then at least six 5 ms rounds),
    // however slowly a loaded machine serves them, so both cells meet the crash.
    const args = ['run', '--suite', 'echo', '--transports', 'framed', '--families', 'unix', '--payloads', '64,3072', '--scenarios', 'single-stream', ...FAST, '--sidecar-arg=--crash-after', '--sidecar-arg=30', '--out', out];
    const run = await execa('node', [BIN, ...args], { reject: false, timeout: 90_000 });
    expect(run.exitCode).toBe(1);
    const result = await readResults(out);
    const framed = result.cells.filter((c) => c.transport === 'framed');
    expect(framed).toHaveLength(2); // the second cell ran on a restarted sidecar
    for (const cell of framed) {
      expect(cell.status).toBe('failed');
      expect(cell.error?.code).toBe('SIDECAR_CRASHED');
    }
    expect(result.cells.filter((c) => c.transport === 'native-peer').every((c) => c.status === 'ok')).toBe(true);
    expect(result.status).toBe('partial');
  }, 120_000);

  it('fails a hung sidecar with TIMEOUT instead of hanging', async () => {
    const out = await outDir();
    const args = ['run', '--suite', 'echo', '--transports', 'framed', '--families', 'tcp', '--payloads', '64', '--scenarios', 'single-stream', '--no-calibration', ...FAST, '--timeout-ms', '500', '--sidecar-arg=--stall-ms', '--sidecar-arg=10000', '--out', out];
    const run = await execa('node', [BIN, ...args], { reject: false, timeout: 60_000 });
    expect(run.exitCode).toBe(1);
    const result = await readResults(out);
    const cell = result.cells.find((c) => c.transport === 'framed');
    expect(cell?.error?.code).toBe('TIMEOUT');
  }, 90_000);

  it('on Ctrl-C writes what was measured, stops every sidecar, exits non-zero', async () => {
    const out = await outDir();
    const args = ['run', '--suite', 'echo', '--transports', 'framed,msgpack', '--families', 'unix', '--payloads', '0,64,3072,65536', '--block-ms', '50', '--min-rounds', '30', '--max-rounds', '30', '--out', out];
    const child = execa('node', [BIN, ...args], { reject: false });
    let result: RunResult | undefined;
    for (let i = 0; i < 300 && result === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      try {
        const partial = await readResults(out);
        if (partial.cells.some((c) => c.transport === 'framed')) result = partial;
      } catch {
        // not written yet
      }
    }
    expect(result).toBeDefined();
    child.kill('SIGINT');
    const done = await child;
    expect(done.exitCode).not.toBe(0);
    const final = await readResults(out);
    expect(final.status).toBe('interrupted');
    expect(final.cells.length).toBeGreaterThanOrEqual(result?.cells.length ?? 0);
    const pids = final.cells.map((c) => c.sidecar?.['pid']).filter((p) => p !== undefined);
    expect(pids.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 300));
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 120_000);

  it('reads the matrix from --config and measures a sidecar it did not start (--connect)', async () => {
    const { startSidecar } = await import('../sidecar.js');
    const { writeFile } = await import('node:fs/promises');
    const sidecar = await startSidecar({ model: 'echo', transport: 'msgpack', family: 'tcp' });
    try {
      const out = await outDir();
      const config = path.join(out, 'suite.json');
      const options = { suites: ['echo'], transports: ['msgpack'], payloadBytes: [64, 3072], scenarios: ['single-stream'], calibration: false, warmupRequests: 20, warmupMs: 10, blockMs: 5, minRounds: 6, maxRounds: 8 };
      await writeFile(config, JSON.stringify(options));
      const address = sidecar.address.family === 'tcp' ? `tcp:${sidecar.address.host}:${sidecar.address.port}` : '';
      const run = await execa('node', [BIN, 'run', '--config', config, '--connect', address, '--out', out], { reject: false, timeout: 60_000 });
      expect(run.exitCode, run.stderr).toBe(0);
      const result = await readResults(out);
      const measured = result.cells.filter((c) => c.transport === 'msgpack');
      expect(measured.map((c) => c.payloadBytes)).toEqual([64, 3072]);
      expect(measured.every((c) => c.family === 'tcp' && c.sidecar?.['connect'] === address && c.requests > 0)).toBe(true);
      expect(result.cells.some((c) => c.transport === 'native-peer')).toBe(false);
      expect(alive(sidecar.ready.pid)).toBe(true); // a sidecar the harness did not start is left running
    } finally {
      await sidecar.stop();
    }
  }, 90_000);

  it('rejects bad flags with exit code 2 and a message naming the flag and value', async () => {
    const run = await execa('node', [BIN, 'run', '--concurrency', '0'], { reject: false });
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('`--concurrency`');
    expect(run.stderr).toContain('`0`');
    const unknown = await execa('node', [BIN, 'frobnicate'], { reject: false });
    expect(unknown.exitCode).toBe(2);
    const device = await execa('node', [BIN, 'run', '--suite', 'cifar', '--device', 'gpu'], { reject: false });
    expect(device.exitCode).toBe(2);
    expect(device.stderr).toContain('Expected `--device` to be cpu, cuda, cuda:N or auto, got `gpu`');
    const dtype = await execa('node', [BIN, 'run', '--suite', 'cifar', '--dtype', 'int8'], { reject: false });
    expect(dtype.exitCode).toBe(2);
    expect(dtype.stderr).toContain('`--dtype`');
  });

  it.skipIf(cudaHere)('refuses `--device cuda` where torch has no CUDA, before any cell, with exit 2', async () => {
    const out = await outDir();
    const run = await execa('node', [BIN, 'run', '--suite', 'cifar', '--device', 'cuda', '--out', out], { reject: false, timeout: 120_000 });
    expect(run.exitCode, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/USAGE: `--device cuda` asks for CUDA, but torch \S+ in \S+ is a CPU-only build/);
    expect(run.stderr).not.toContain('[1/'); // no cell started
  }, 150_000);
});
