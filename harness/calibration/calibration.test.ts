/**
 * The calibration clients against real servers: the C echo client and the lean Node client, on the
 * C echo peer and on Python sidecars, over unix and tcp, and what each does when the server goes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Address } from '../../transports/address.js';
import { HarnessError } from '../../transports/errors.js';
import { startSidecar, type Sidecar } from '../sidecar.js';
import { codeOf } from '../testing.js';
import { connectLean } from './lean-client.js';
import { startNativeClient } from './native-client.js';
import { startNativePeer } from './native-peer.js';

const payload = Uint8Array.from({ length: 3072 }, (_, i) => (i * 31 + 7) & 0xff);

describe('calibration clients', () => {
  const servers: Sidecar[] = [];
  let peer: Sidecar;
  let framed: Sidecar;
  let msgpack: Sidecar;
  beforeAll(async () => {
    [peer, framed, msgpack] = await Promise.all([startNativePeer('unix'), startSidecar({ model: 'echo', transport: 'framed', family: 'tcp' }), startSidecar({ model: 'echo', transport: 'msgpack', family: 'unix' })]);
    servers.push(peer, framed, msgpack);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it('the C client times blocks of echoes on the C peer and on the Python sidecar', async () => {
    for (const server of [peer, framed]) {
      const client = await startNativeClient(server.address, 5000);
      const block = await client.block({ payloadBytes: 3072, durationMs: 5, minRequests: 10, warmup: 2 });
      expect(block.abortedBy).toBeUndefined();
      expect(block.requests).toBeGreaterThanOrEqual(10);
      expect(block.latenciesNs).toHaveLength(block.requests);
      expect(Math.min(...block.latenciesNs)).toBeGreaterThan(500); // nanoseconds: a round trip is microseconds
      expect(Math.max(...block.latenciesNs)).toBeLessThan(1e9);
      expect(block.durationNs).toBe(block.latenciesNs.reduce((a, b) => a + b, 0));
      const big = await client.block({ payloadBytes: 1 << 20, durationMs: 0, minRequests: 2, warmup: 0 });
      expect(big.requests).toBe(2);
      await client.close();
    }
  }, 30_000);

  it('the C client reports CONNECT_FAILED, and SIDECAR_CLOSED when the server dies mid-block', async () => {
    await expect(startNativeClient({ family: 'unix', path: '/nonexistent/sock' }, 1000)).rejects.toSatisfy((e) => e instanceof HarnessError && e.code === 'CONNECT_FAILED');
    const doomed = await startSidecar({ model: 'echo', transport: 'framed', family: 'unix', args: ['--crash-after', '50'] });
    servers.push(doomed);
    const client = await startNativeClient(doomed.address, 2000);
    const block = await client.block({ payloadBytes: 64, durationMs: 50, minRequests: 100, warmup: 0 });
    expect(block.abortedBy?.code).toBe('SIDECAR_CLOSED');
    expect(block.requests - block.errors).toBe(50);
    await client.close();
  }, 30_000);

  it('the C client reports TIMEOUT for a server that stops answering', async () => {
    const hung = await startSidecar({ model: 'echo', transport: 'framed', family: 'unix', args: ['--stall-ms', '5000'] });
    servers.push(hung);
    const client = await startNativeClient(hung.address, 300);
    const block = await client.block({ payloadBytes: 64, durationMs: 0, minRequests: 1, warmup: 0 });
    expect(block.abortedBy?.code).toBe('TIMEOUT');
    await client.close();
  }, 30_000);

  it('the lean Node client echoes on the framed and msgpack wires, over tcp and unix', async () => {
    for (const [server, wire] of [[framed, 'framed'], [msgpack, 'msgpack']] as const) {
      const client = await connectLean(server.address, wire);
      for (const size of [0, 1, 3072, 70_000]) {
        const bytes = payload.length >= size ? payload.subarray(0, size) : new Uint8Array(size).fill(9);
        expect(Buffer.from(await client.echo(bytes)).equals(Buffer.from(bytes))).toBe(true);
      }
      await client.close();
    }
  }, 30_000);

  it('the lean Node client fails the request in flight when destroyed or when the server goes', async () => {
    const client = await connectLean(framed.address, 'framed');
    const stalled = await startSidecar({ model: 'echo', transport: 'framed', family: 'unix', args: ['--stall-ms', '5000'] });
    servers.push(stalled);
    const slow = await connectLean(stalled.address, 'framed');
    const pending = slow.echo(payload);
    slow.destroy(new HarnessError('TIMEOUT', 'block deadline'));
    expect(await codeOf(pending)).toBe('TIMEOUT');
    expect(await codeOf(slow.echo(payload))).toBe('TIMEOUT');
    await client.close();
    const nowhere: Address = { family: 'unix', path: '/nonexistent/lean.sock' };
    expect(await codeOf(connectLean(nowhere, 'framed'))).toBe('CONNECT_FAILED');
    const victim = await startSidecar({ model: 'echo', transport: 'framed', family: 'unix', args: ['--crash-after', '1'] });
    const doomed = await connectLean(victim.address, 'framed');
    await doomed.echo(payload);
    expect(await codeOf(doomed.echo(payload))).toBe('SIDECAR_CLOSED');
    await victim.stop();
  }, 30_000);
});
