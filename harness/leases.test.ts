/**
 * Leases on real sidecars: one that hung (alive, answering nothing: SIGSTOP) is replaced before
 * the next cell opens on it, as a crashed one is; a healthy one is kept.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { TransportName } from '../transports/types.js';
import { resolveConfig } from './config.js';
import { spawnLease } from './leases.js';
import { stopAllSidecars } from './sidecar.js';
import { alive, codeOf } from './testing.js';

afterAll(stopAllSidecars);

const config = resolveConfig({ timeoutMs: 400, cpuPinning: 'off' });
const payload = new Uint8Array([1, 2, 3]);

describe('a spawned sidecar lease', () => {
  it('keeps a sidecar that answers: the same process serves the next cell', async () => {
    const { lease, stop } = await spawnLease({ model: 'echo', transport: 'framed', family: 'unix' }, config);
    try {
      const pid = lease.facts['pid'];
      for (let cell = 0; cell < 3; cell++) {
        const [client] = await lease.connect(1);
        expect([...((await client?.echo(payload)) ?? [])]).toEqual([...payload]);
        await client?.close();
      }
      expect(lease.facts['pid']).toBe(pid);
    } finally {
      await stop();
    }
  });

  it.each<TransportName>(['framed', 'grpc'])('replaces a %s sidecar that hung (SIGSTOP): its cell times out, the next one is served', async (transport) => {
    const { lease, stop } = await spawnLease({ model: 'echo', transport, family: 'unix' }, config);
    try {
      const [client] = await lease.connect(1);
      expect([...((await client?.echo(payload)) ?? [])]).toEqual([...payload]);
      const pid = lease.facts['pid'] as number;
      process.kill(pid, 'SIGSTOP');
      expect(await codeOf(client!.echo(payload))).toBe('TIMEOUT');
      await client?.close();
      const [next] = await lease.connect(1);
      expect([...((await next?.echo(payload)) ?? [])]).toEqual([...payload]);
      await next?.close();
      expect(lease.facts['pid']).not.toBe(pid);
      expect(alive(pid)).toBe(false);
    } finally {
      await stop();
    }
  }, 20_000);
});
