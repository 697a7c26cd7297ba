import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HarnessError } from '../transports/errors.js';
import { startNativePeer } from './calibration/native-peer.js';
import { killSidecarsNow, startSidecar, stopAllSidecars } from './sidecar.js';
import { alive } from './testing.js';

afterAll(stopAllSidecars);


describe('sidecar lifecycle', () => {
  it('starts, reports its ready line, and stops without leaving the process or socket', async () => {
    const sidecar = await startSidecar({ model: 'echo', transport: 'framed', family: 'unix' });
    expect(sidecar.ready.model).toBe('echo');
    expect(sidecar.address.family).toBe('unix');
    const socketPath = sidecar.address.family === 'unix' ? sidecar.address.path : '';
    expect(existsSync(socketPath)).toBe(true);
    expect(path.basename(path.dirname(socketPath))).toMatch(/^sidecar-bench-/);
    await sidecar.stop();
    expect(alive(sidecar.ready.pid)).toBe(false);
    expect(existsSync(path.dirname(socketPath))).toBe(false);
    expect((await sidecar.exited).exitCode).toBe(0);
  });

  it('fails to start with SIDECAR_START_FAILED carrying the stderr tail', async () => {
    const error = await startSidecar({ model: 'cifar', transport: 'framed', family: 'unix', args: ['--weights', '/nonexistent/weights.pt'] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HarnessError);
    expect((error as HarnessError).code).toBe('SIDECAR_START_FAILED');
    expect((error as HarnessError).message).toContain('/nonexistent/weights.pt');
  }, 60_000);

  it('gives up on a sidecar that never becomes ready, and kills it', async () => {
    const error = await startSidecar({ model: 'echo', transport: 'framed', family: 'unix', program: '/bin/sh', args: ['-c', 'sleep 30', 'sh'], readyTimeoutMs: 300 }).catch((e: unknown) => e);
    expect((error as HarnessError).code).toBe('SIDECAR_START_FAILED');
    expect((error as HarnessError).message).toContain('no ready line');
  });

  it('kills every process it started and removes their directories at once, for a harness quitting now', async () => {
    const started = await Promise.all([startSidecar({ model: 'echo', transport: 'framed', family: 'unix' }), startNativePeer('unix')]);
    const dirs = started.map((s) => (s.address.family === 'unix' ? path.dirname(s.address.path) : ''));
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    killSidecarsNow();
    expect(dirs.filter((d) => existsSync(d))).toEqual([]);
    await Promise.all(started.map((s) => s.exited));
    expect(started.map((s) => alive(s.ready.pid))).toEqual([false, false]);
  }, 30_000);
});
