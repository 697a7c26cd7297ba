/**
 * The framed client's requests to a peer that answers classify frames as the idea's image server
 * does: type 1 with the class name as text. The peer here is a Node socket server that records the
 * types it was sent and replies from a script.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeOf } from '../harness/testing.js';
import { createFramedTransport, encodeFrame } from './framed.js';
import { createFrameDecoder } from './framing.js';
import type { ClassifyReply, Transport, TransportOptions } from './types.js';

const NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

let server: net.Server;
const sockets = new Set<net.Socket>();
let port = 0;
/** Types of the frames the peer received, in order. */
const received: number[] = [];
/** The type-1 reply bodies the peer sends, in order. */
const replies: Uint8Array[] = [];

beforeAll(async () => {
  server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = createFrameDecoder(1 << 20);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const type = frame[0] as number;
        received.push(type);
        const images = (frame.length - 1) / 3072;
        const body = type === 1 ? (replies.shift() ?? new Uint8Array(0)) : type === 6 ? new Uint8Array(8 + images).fill(4, 8) : new Uint8Array(images).fill(7);
        for (const part of encodeFrame(type, body)) socket.write(part);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const plain = (reply: ClassifyReply): Record<string, unknown> => ({ ...reply, labels: [...reply.labels] });

async function client(extra: Partial<TransportOptions>): Promise<Transport> {
  return createFramedTransport({ address: { family: 'tcp', host: '127.0.0.1', port }, timeoutMs: 2000, maxFrameBytes: 1 << 20, ...extra });
}

describe('framed classify, spoken as the idea', () => {
  it('sends type 1 for one image and reads the class name back as its index', async () => {
    const c = await client({ dialect: 'idea', classNames: NAMES });
    received.length = 0;
    replies.push(new TextEncoder().encode('bird'));
    expect(plain(await c.classify(new Uint8Array(3072)))).toEqual({ labels: [2], names: ['bird'] });
    // Several images: our batch type 2 (the idea has none), one index byte each.
    expect(plain(await c.classify(new Uint8Array(3 * 3072)))).toEqual({ labels: [7, 7, 7] });
    expect(received).toEqual([1, 2]);
    await c.close();
  });

  it('fails a name that is no class with UNKNOWN_LABEL and goes on; bytes that are not UTF-8 are PROTOCOL_ERROR', async () => {
    const c = await client({ dialect: 'idea', classNames: NAMES });
    replies.push(new TextEncoder().encode('griffin'), new TextEncoder().encode('cat'), Uint8Array.of(0xff, 0xfe));
    expect(await codeOf(c.classify(new Uint8Array(3072)))).toBe('UNKNOWN_LABEL');
    expect(plain(await c.classify(new Uint8Array(3072))).labels).toEqual([3]);
    expect(await codeOf(c.classify(new Uint8Array(3072)))).toBe('PROTOCOL_ERROR');
    await c.close();
    const nameless = await client({ dialect: 'idea' });
    replies.push(new TextEncoder().encode('cat'));
    expect(await codeOf(nameless.classify(new Uint8Array(3072)))).toBe('UNKNOWN_LABEL');
    await nameless.close();
  });

  it('asks our own sidecar with the timed type 6 by default, one image or several', async () => {
    const c = await client({});
    received.length = 0;
    expect(plain(await c.classify(new Uint8Array(3072)))).toEqual({ labels: [4], computeNs: 0 });
    expect(plain(await c.classify(new Uint8Array(2 * 3072))).labels).toEqual([4, 4]);
    expect(received).toEqual([6, 6]);
    await c.close();
  });
});
