/**
 * The msgpack transport: its hand-written echo codec against msgpackr, id matching against a fake
 * peer that answers out of order, then real sidecars over both families, and every bad input on
 * a raw socket (after each, a new connection must still be served).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSidecar, stopAllSidecars, type Sidecar } from '../harness/sidecar.js';
import { FAMILIES, type Address } from './address.js';
import { createFrameDecoder, lengthHeader } from './framing.js';
import { createMsgpackTransport, decodeEchoReply, encodeEchoFrame, encodeFrame, type WireReply } from './msgpack.js';
import type { Transport } from './types.js';
import { codeOf } from '../harness/testing.js';

const plain = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });
const LIMIT = 1024 * 1024 + 64;


const bytes = (size: number, seed = 0): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 131 + seed) & 0xff);
const frame = (body: Uint8Array): Uint8Array => Buffer.concat([lengthHeader(body.length), body]);
const packed = (value: unknown): Uint8Array => frame(plain.pack(value));

/** The reply frames a raw connection gets for `wire`, and whether the sidecar then closed it. */
function exchange(address: Address, wire: Uint8Array, replies: number, hangUp = false): Promise<{ replies: WireReply[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = address.family === 'unix' ? net.createConnection(address.path) : net.createConnection(address.port, address.host);
    const decoder = createFrameDecoder(LIMIT);
    const got: WireReply[] = [];
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ replies: got, closed });
    };
    const timer = setTimeout(() => done(false), 1500);
    socket.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) got.push(unpackr.unpack(body) as WireReply);
      if (got.length >= replies && !hangUp) setTimeout(() => done(socket.readableEnded), 50);
    });
    socket.on('end', () => done(true));
    socket.on('error', reject);
    socket.write(wire, () => {
      if (hangUp) socket.destroy();
      if (hangUp) resolve({ replies: got, closed: true });
    });
  });
}

describe('msgpack codec', () => {
  it.each([0, 1, 255, 256, 65_535, 65_536, 70_000])('hand-writes echo requests msgpackr reads back (%i bytes, payload as bin)', (size) => {
    for (const id of [1, 127, 128, 255, 256, 65_535, 65_536, 0xffff_ffff]) {
      const wire = Buffer.concat(encodeEchoFrame(id, bytes(size, id)));
      expect(wire.readUInt32BE(0)).toBe(wire.length - 4);
      const value = unpackr.unpack(wire.subarray(4)) as Record<string, unknown>;
      expect(value).toEqual({ id, op: 'echo', payload: Buffer.from(bytes(size, id)) });
      const tagAt = wire.length - size - (size < 256 ? 2 : size < 65_536 ? 3 : 5);
      expect(wire[tagAt]).toBe(size < 256 ? 0xc4 : size < 65_536 ? 0xc5 : 0xc6); // bin, not ext or array
    }
  });

  it('reads echo replies in place, as fixmap (Python) or map16 (msgpackr), and refuses other shapes', () => {
    const payload = bytes(3072);
    const python = Buffer.concat([Uint8Array.of(0x82, 0xa2, 0x69, 0x64, 0xcd, 0x01, 0x00, 0xa7), Buffer.from('payload'), Uint8Array.of(0xc5, 0x0c, 0x00), payload]);
    expect(decodeEchoReply(python)).toEqual({ id: 256, payload: Buffer.from(payload) });
    expect(decodeEchoReply(plain.pack({ id: 7, payload }))).toEqual({ id: 7, payload: Buffer.from(payload) });
    expect(decodeEchoReply(python.subarray(0, python.length - 1))).toBeUndefined();
    expect(decodeEchoReply(plain.pack({ id: 7, error: { code: 'BAD_INPUT', message: 'x' } }))).toBeUndefined();
    expect(decodeEchoReply(plain.pack({ id: 7, payload: 'text' }))).toBeUndefined();
    expect(decodeEchoReply(new Uint8Array(0))).toBeUndefined();
  });

  it('packs other requests with msgpackr: plain maps, Uint8Array as bin', () => {
    const wire = encodeFrame({ id: 3, op: 'classify', images: bytes(3072) });
    expect(new DataView(wire.buffer, wire.byteOffset).getUint32(0)).toBe(wire.length - 4);
    expect(unpackr.unpack(wire.subarray(4))).toEqual({ id: 3, op: 'classify', images: Buffer.from(bytes(3072)) });
    expect(Buffer.from(wire).includes(Buffer.from([0xa6, ...Buffer.from('images'), 0xc5, 0x0c, 0x00]))).toBe(true);
  });
});

describe('msgpack transport against a peer that answers out of order', () => {
  it('matches replies to requests by id', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msgpack-test-'));
    const socketPath = path.join(dir, 'peer.sock');
    const server = net.createServer((conn) => {
      const decoder = createFrameDecoder();
      const pending: { id: number; payload: Uint8Array }[] = [];
      conn.on('data', (chunk: Buffer) => {
        for (const body of decoder.push(chunk)) pending.push(unpackr.unpack(body) as { id: number; payload: Uint8Array });
        if (pending.length === 5) for (const request of pending.reverse()) conn.write(packed({ id: request.id, payload: request.payload }));
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const client = await createMsgpackTransport({ address: { family: 'unix', path: socketPath }, timeoutMs: 5000, maxFrameBytes: LIMIT });
    try {
      const payloads = [0, 1, 2, 3, 4].map((i) => bytes(10 + i, i));
      const replies = await Promise.all(payloads.map((p) => client.echo(p)));
      replies.forEach((reply, i) => expect([...reply]).toEqual([...(payloads[i] as Uint8Array)]));
    } finally {
      await client.close();
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

afterAll(stopAllSidecars);

describe.each(FAMILIES)('msgpack sidecar over %s', (family) => {
  let sidecar: Sidecar;
  let transport: Transport;
  const connect = (timeoutMs = 10_000, on: Sidecar = sidecar): Promise<Transport> =>
    createMsgpackTransport({ address: on.address, timeoutMs, maxFrameBytes: 64 * 1024 * 1024 });
  const stillServes = async (): Promise<void> => {
    const fresh = await connect();
    expect([...(await fresh.echo(Uint8Array.of(4, 5, 6)))]).toEqual([4, 5, 6]);
    await fresh.close();
  };

  beforeAll(async () => {
    sidecar = await startSidecar({ model: 'echo', transport: 'msgpack', family, args: ['--max-frame-bytes', String(LIMIT)] });
    transport = await connect();
  }, 60_000);

  afterAll(async () => {
    await transport?.close();
    await sidecar?.stop();
  });

  it('reports what the echo model lacks as UNSUPPORTED_OP, bad images as BAD_INPUT', async () => {
    expect(await codeOf(transport.classify(new Uint8Array(3072)))).toBe('UNSUPPORTED_OP');
    expect(await codeOf(transport.classify(new Uint8Array(3 * 3072)))).toBe('UNSUPPORTED_OP');
    expect(await codeOf(transport.classify(new Uint8Array(3071)))).toBe('BAD_INPUT');
    expect(await codeOf(transport.generate({ prompt: 'hi', samplingSteps: 4, temperature: 0.5, topK: 3, topP: 0.9, seed: 1 }))).toBe('UNSUPPORTED_OP');
    expect(await codeOf(transport.generateStream({ prompt: 'hi' }, () => undefined))).toBe('UNSUPPORTED_OP');
    expect((await transport.echo(Uint8Array.of(1, 2, 3))).length).toBe(3);
  });

  it('fails a request over the sidecar limit with FRAME_TOO_LARGE, then serves a new connection', async () => {
    const c = await connect();
    expect(await codeOf(c.echo(new Uint8Array(LIMIT)))).toBe('FRAME_TOO_LARGE');
    expect(await codeOf(c.echo(Uint8Array.of(1)))).toBe('SIDECAR_CLOSED');
    await stillServes();
  });

  // Echo fidelity, requests in flight, stalled and killed sidecars: transports/contract.test.ts
  // covers them for every transport and family.

  const inSync: [string, Uint8Array, number | null, string][] = [
    ['invalid msgpack bytes', frame(Uint8Array.of(0xc1)), null, 'BAD_INPUT'],
    ['a non-map (array)', packed([1, 'echo']), null, 'BAD_INPUT'],
    ['map without id', packed({ op: 'echo', payload: bytes(3) }), null, 'BAD_INPUT'],
    ['map without op', packed({ id: 5 }), 5, 'BAD_INPUT'],
    ['unknown op', packed({ id: 5, op: 'dance' }), 5, 'UNKNOWN_TYPE'],
    ['payload as a string', packed({ id: 5, op: 'echo', payload: 'text' }), 5, 'BAD_INPUT'],
    ['images of 3071 bytes', packed({ id: 5, op: 'classify', images: bytes(3071) }), 5, 'BAD_INPUT'],
    ['prompt as a number', packed({ id: 5, op: 'generate', prompt: 7 }), 5, 'BAD_INPUT'],
  ];
  it.each(inSync)('answers %s with an error and keeps the connection', async (_case, wire, id, code) => {
    const { replies, closed } = await exchange(sidecar.address, Buffer.concat([wire, Buffer.concat(encodeEchoFrame(9, Uint8Array.of(1)))]), 2);
    expect(replies[0]).toMatchObject({ id, error: { code } });
    expect(replies[1]).toEqual({ id: 9, payload: Buffer.of(1) });
    expect(closed).toBe(false);
    await stillServes();
  });

  it('answers a huge declared length (0xFFFFFFF0) with FRAME_TOO_LARGE and closes', async () => {
    const { replies, closed } = await exchange(sidecar.address, lengthHeader(0xffff_fff0), 1);
    expect(replies).toMatchObject([{ id: null, error: { code: 'FRAME_TOO_LARGE' } }]);
    expect(closed).toBe(true);
    await stillServes();
  });

  it('survives random garbage', async () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 10; i++) await exchange(sidecar.address, Uint8Array.from({ length: 50 + i * 40 }, random), 1);
    await stillServes();
  });

  it('survives a disconnect mid-frame', async () => {
    const whole = Buffer.concat(encodeEchoFrame(1, bytes(1000)));
    for (const cut of [1, 3, 4, 5, 20, whole.length - 1]) await exchange(sidecar.address, whole.subarray(0, cut), 0, true);
    await stillServes();
  });
});
