/**
 * The http-json transport against real sidecars (Flask under gunicorn), in both gunicorn set-ups,
 * through every HTTP client library (HTTP_CLIENTS: each case runs once per client, on the same
 * sidecar). Echo fidelity runs the full family x set-up matrix; the rest runs on one family per set-up.
 * Longer than the house's 250 lines because each group shares its live sidecars (start-up is
 * the slow part), and the raw-socket and /proc helpers serve only these tests.
 */
import { Buffer } from 'node:buffer';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarPython } from '../harness/paths.js';
import { startSidecar, type Sidecar } from '../harness/sidecar.js';
import { codeOf, fakeSidecarGenerationCases, fakeSidecarScript } from '../harness/testing.js';
import { FAMILIES, type Address, type Family } from './address.js';
import { base64Body, createHttpJsonTransport } from './http-json.js';
import { createSseParser } from './sse.js';
import { makeTensor } from './tensors.js';
import { HTTP_CLIENTS, HTTP_SETUPS, type HttpClientName, type HttpSetup, type Transport } from './types.js';

const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const LIMITED_BYTES = 65536;
const sidecars: Sidecar[] = [];
const transports: Transport[] = [];

async function sidecar(family: Family, setup: HttpSetup, ...extra: string[]): Promise<Sidecar> {
  const started = await startSidecar({ model: 'echo', transport: 'http-json', family, args: ['--http-worker', setup, ...extra] });
  sidecars.push(started);
  return started;
}

async function connect(address: Address, httpClient: HttpClientName, timeoutMs = 5000, maxFrameBytes = MAX_FRAME_BYTES): Promise<Transport> {
  // Our sidecar's health route: the client is made once gunicorn's forked worker answers.
  const transport = await createHttpJsonTransport({ address, timeoutMs, maxFrameBytes, healthPath: '/healthz', httpClient });
  transports.push(transport);
  return transport;
}


// A core that classifies and generates, served by the real front-end, for what the echo model cannot do.
const FAKE_SIDECAR = fakeSidecarScript('http_json', 'http-json', 'http_worker');

const bytesOf = (length: number, seed = 0): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);

/** pid -> [ppid, state] for every process, from /proc (Linux). */
function processTable(): Map<number, [number, string]> {
  const table = new Map<number, [number, string]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(name), [Number(ppid), state ?? '?']);
    } catch {
      // gone between readdir and read
    }
  }
  return table;
}

function childrenOf(pid: number): number[] {
  return [...processTable()].filter(([, [ppid]]) => ppid === pid).map(([child]) => child);
}

function alive(pid: number): boolean {
  const entry = processTable().get(pid);
  return entry !== undefined && entry[1] !== 'Z';
}

async function waitUntil(condition: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (performance.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return condition();
}

interface RawReply {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/** Send `request` as raw bytes on a fresh connection and read until the server closes it. */
function rawRequest(address: Address, request: string | Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = address.family === 'unix' ? net.connect(address.path) : net.connect(address.port, address.host);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined); // a reset after the reply (unread request body) is fine
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) {
        reject(new Error(`Expected an HTTP reply, got ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      const head = text.slice(0, split);
      resolve({ status: Number(head.split(' ')[1]), head, body: text.slice(split + 4) });
    });
    socket.end(request);
  });
}

function httpRequest(method: string, path: string, body: string | Buffer = '', headers = ''): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const head = `${method} ${path} HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n${headers}\r\n`;
  return Buffer.concat([Buffer.from(head), bytes]);
}

afterAll(async () => {
  await Promise.allSettled(transports.map((t) => t.close()));
  await Promise.all(sidecars.map((s) => s.stop(3000)));
});

describe('SSE parser', () => {
  const events = ['{"token":"héllo"}', '{"token":"wörld ✓"}', '{"response":"x","done":true}'];
  const wire = Buffer.from(`: comment\r\n\r\n${events.map((e) => `data: ${e}\n\n`).join('')}data:a\ndata: b\r\n\r\n`);
  const expected = [...events, 'a\nb'];

  // The truncation loop: every split point, including inside multi-byte characters and CRLFs.
  it.each(Array.from({ length: wire.length + 1 }, (_, cut) => cut))('parses the stream split at byte %i', (cut) => {
    const out: string[] = [];
    const parser = createSseParser((data) => out.push(data));
    parser.push(wire.subarray(0, cut));
    parser.push(wire.subarray(cut));
    expect(out).toEqual(expected);
  });

  it('parses byte-by-byte feeding, emitting each event once its blank line arrives', () => {
    const out: string[] = [];
    const parser = createSseParser((data) => out.push(data));
    for (const byte of wire) parser.push(Uint8Array.of(byte));
    expect(out).toEqual(expected);
  });
});

describe.each(HTTP_SETUPS.flatMap((setup) => FAMILIES.map((family) => [setup, family] as const)))('http-json (%s) over %s', (setup, family) => {
  let peer: Sidecar;

  beforeAll(async () => {
    peer = await sidecar(family, setup);
  });

  it('announces the address it serves; a unix socket is private (0600)', () => {
    expect(peer.ready.transport).toBe('http-json');
    expect(peer.address.family).toBe(family);
    if (peer.address.family === 'unix') expect(statSync(peer.address.path).mode & 0o777).toBe(0o600);
    else expect(peer.address.port).toBeGreaterThan(0);
  });

  describe.each(HTTP_CLIENTS)('through %s', (client) => {
    let transport: Transport;

    beforeAll(async () => {
      transport = await connect(peer.address, client);
    });

    it.each([
      ['0 B', new Uint8Array(0)],
      ['1 B', Uint8Array.of(0xff)],
      ['3072 B', bytesOf(3072, 7)],
      ['1 MiB', bytesOf(1024 * 1024, 3)],
      ['all 256 byte values', Uint8Array.from({ length: 256 }, (_, i) => i)],
    ])('echoes %s unchanged', async (_name, payload) => {
      const echoed = await transport.echo(payload);
      expect(Buffer.from(echoed).equals(Buffer.from(payload))).toBe(true);
    });

    it('answers several requests in flight at once, on one and on several transports', async () => {
      const more = [transport, await connect(peer.address, client), await connect(peer.address, client)];
      const calls = Array.from({ length: 24 }, (_, i) => ({ client: more[i % more.length] as Transport, payload: bytesOf(100 + i * 37, i) }));
      const replies = await Promise.all(calls.map(({ client, payload }) => client.echo(payload)));
      replies.forEach((reply, i) => expect(Buffer.from(reply).equals(Buffer.from(calls[i]?.payload ?? [0]))).toBe(true));
    });

    it('reports UNSUPPORTED_OP for classify and generate on the echo model', async () => {
      expect(await codeOf(transport.classify(bytesOf(3072)))).toBe('UNSUPPORTED_OP');
      expect(await codeOf(transport.classify(bytesOf(2 * 3072)))).toBe('UNSUPPORTED_OP');
      expect(await codeOf(transport.generate({ prompt: 'hi', samplingSteps: 4 }))).toBe('UNSUPPORTED_OP');
      const pieces: string[] = [];
      expect(await codeOf(transport.generateStream({ prompt: 'hi' }, (text) => pieces.push(text)))).toBe('UNSUPPORTED_OP');
      expect(pieces).toEqual([]);
      expect((await transport.echo(Uint8Array.of(1, 2))).length).toBe(2);
    });

    it('gives the metadata and infers through the Open Inference Protocol routes, binary and JSON', async () => {
      expect(await transport.metadata()).toEqual(peer.ready['metadata']);
      const payload = makeTensor('payload', 'UINT8', [5], [0, 1, 127, 128, 255]);
      const binary = await transport.infer([payload]);
      expect(binary.outputs.map((t) => [t.name, t.datatype, t.shape, [...t.data]])).toEqual([['payload', 'UINT8', [5], [0, 1, 127, 128, 255]]]);
      const json = await createHttpJsonTransport({ address: peer.address, timeoutMs: 5000, maxFrameBytes: MAX_FRAME_BYTES, httpClient: client, tensorEncoding: 'json', modelName: 'echo' });
      transports.push(json);
      expect((await json.infer([payload])).outputs).toEqual(binary.outputs);
      expect(await codeOf(transport.infer([makeTensor('payload', 'FP32', [1], [1])]))).toBe('BAD_INPUT');
    });
  });
});

describe.each([
  ['sync', 'unix'],
  ['gthread', 'tcp'],
] as const)('http-json (%s) over %s with a model that classifies and generates', (setup, family) => {
  let peer: Sidecar;

  beforeAll(async () => {
    peer = await startSidecar({ model: 'fake', transport: 'http-json', family, program: sidecarPython(), args: ['-c', FAKE_SIDECAR, setup] });
    sidecars.push(peer);
  });

  describe.each(HTTP_CLIENTS)('through %s', (client) => {
    let transport: Transport;

    beforeAll(async () => {
      transport = await connect(peer.address, client);
    });

    it('classifies one image and a batch', async () => {
      const images = new Uint8Array(2 * 3072);
      images[0] = 3;
      images[3072] = 17;
      expect(await transport.classify(images.subarray(0, 3072))).toEqual({ labels: Uint8Array.of(3), computeNs: 1234 });
      expect(await transport.classify(images)).toEqual({ labels: Uint8Array.of(3, 7), computeNs: 1234 });
    });

    fakeSidecarGenerationCases(() => transport);
  });
});

describe.each([
  ['sync', 'tcp'],
  ['gthread', 'unix'],
] as const)('bad input to http-json (%s) over %s', (setup, family) => {
  let peer: Sidecar;
  let transport: Transport;
  const good = async (): Promise<void> => {
    expect(Buffer.from(await transport.echo(bytesOf(3072))).equals(Buffer.from(bytesOf(3072)))).toBe(true);
  };

  beforeAll(async () => {
    peer = await sidecar(family, setup, '--max-frame-bytes', String(LIMITED_BYTES));
    transport = await connect(peer.address, 'undici');
  });

  it.each([
    ['malformed JSON', 400, 'BAD_INPUT', httpRequest('POST', '/echo', '{"prompt": ')],
    ['JSON that is not an object', 400, 'BAD_INPUT', httpRequest('POST', '/echo', '["prompt"]')],
    ['a body that is not UTF-8', 400, 'BAD_INPUT', httpRequest('POST', '/echo', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
    ['prompt: 5', 400, 'BAD_INPUT', httpRequest('POST', '/echo', '{"prompt": 5}')],
    ['no prompt at all', 400, 'BAD_INPUT', httpRequest('POST', '/echo', '{}')],
    ['image: 12', 400, 'BAD_INPUT', httpRequest('POST', '/classify', '{"image": 12}')],
    ['invalid base64', 400, 'BAD_INPUT', httpRequest('POST', '/classify', '{"image": "not base64!"}')],
    ['image of 3071 bytes', 400, 'BAD_INPUT', httpRequest('POST', '/classify', JSON.stringify({ image: Buffer.alloc(3071).toString('base64') }))],
    ['images of 3073 bytes', 400, 'BAD_INPUT', httpRequest('POST', '/classify_batch', JSON.stringify({ images: Buffer.alloc(3073).toString('base64') }))],
    ['stream: "yes"', 400, 'BAD_INPUT', httpRequest('POST', '/prompt', '{"prompt": "x", "stream": "yes"}')],
    ['sampling_steps: "four"', 400, 'BAD_INPUT', httpRequest('POST', '/prompt', '{"prompt": "x", "sampling_steps": "four"}')],
    ['a body over the limit', 413, 'FRAME_TOO_LARGE', httpRequest('POST', '/echo', JSON.stringify({ prompt: 'x'.repeat(LIMITED_BYTES) }))],
    ['an unknown route', 404, 'UNKNOWN_TYPE', httpRequest('POST', '/nope', '{}')],
    ['a wrong method', 405, 'UNKNOWN_TYPE', httpRequest('GET', '/echo')],
  ] as const)('answers %s with HTTP %i and %s, then still serves', async (_name, status, code, request) => {
    const reply = await rawRequest(peer.address, request);
    expect(reply.status).toBe(status);
    expect(reply.head.toLowerCase()).toContain('content-type: application/json');
    const body = JSON.parse(reply.body) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(0);
    await good();
  });

  it('survives clients that disconnect mid-request, in the head and in the body', async () => {
    const full = httpRequest('POST', '/echo', JSON.stringify({ prompt: 'x'.repeat(1000) }));
    for (const cut of [10, full.indexOf('\r\n\r\n') + 4 + 20]) {
      await new Promise<void>((resolve) => {
        const socket = peer.address.family === 'unix' ? net.connect(peer.address.path) : net.connect(peer.address.port, peer.address.host);
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
        socket.write(full.subarray(0, cut), () => setTimeout(() => socket.destroy(), 50));
      });
      await good();
    }
  });

  it.each(HTTP_CLIENTS)('maps a 413 back to FRAME_TOO_LARGE through %s, which refuses oversize requests and replies itself', async (client) => {
    const own = await connect(peer.address, client);
    expect(await codeOf(own.echo(bytesOf(LIMITED_BYTES)))).toBe('FRAME_TOO_LARGE');
    await good();
    const small = await connect(peer.address, client, 5000, 1000);
    expect(await codeOf(small.echo(bytesOf(2000)))).toBe('FRAME_TOO_LARGE');
    expect((await small.echo(bytesOf(10))).length).toBe(10);
    // A reply over the limit: 738 bytes go as 997 of JSON (`{"prompt":"<984 of base64>"}`) and come back as at least 1002 (`echo_prompt`).
    expect(await codeOf(small.echo(bytesOf(738)))).toBe('FRAME_TOO_LARGE');
    expect((await small.echo(bytesOf(10))).length).toBe(10);
  });
});

describe.each([
  ['sync', 'unix'],
  ['gthread', 'tcp'],
] as const)('faults with http-json (%s) over %s', (setup, family) => {
  describe.each(HTTP_CLIENTS)('through %s', (client) => {
    it('fails a request to a stalled sidecar with TIMEOUT, without hanging', async () => {
      const peer = await sidecar(family, setup, '--stall-ms', '2000');
      const transport = await connect(peer.address, client, 300);
      const started = performance.now();
      expect(await codeOf(transport.echo(bytesOf(16)))).toBe('TIMEOUT');
      expect(performance.now() - started).toBeLessThan(1500);
    });

    it('fails a request in flight when the sidecar is killed, and leaves no worker behind', async () => {
      const peer = await sidecar(family, setup, '--stall-ms', '2000');
      const transport = await connect(peer.address, client);
      const workers = childrenOf(peer.ready.pid);
      expect(workers.length).toBe(1);
      const started = performance.now();
      const inFlight = codeOf(transport.echo(bytesOf(16)));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The master alone, as the OOM killer would: peer.kill() signals the whole process group,
      // which would hide a worker that outlives its master.
      process.kill(peer.ready.pid, 'SIGKILL');
      expect(['SIDECAR_CLOSED', 'CONNECT_FAILED']).toContain(await inFlight);
      expect(performance.now() - started).toBeLessThan(1500);
      expect(await waitUntil(() => !alive(peer.ready.pid) && workers.every((pid) => !alive(pid)), 3000)).toBe(true);
      expect(['SIDECAR_CLOSED', 'CONNECT_FAILED']).toContain(await codeOf(transport.echo(bytesOf(16))));
    });

    it('stops on SIGTERM with exit code 0, its worker gone and its unix socket removed', async () => {
      const peer = await sidecar(family, setup);
      const transport = await connect(peer.address, client);
      expect((await transport.echo(bytesOf(8))).length).toBe(8);
      const workers = childrenOf(peer.ready.pid);
      process.kill(peer.ready.pid, 'SIGTERM'); // not peer.stop(): that removes the socket's directory too
      expect(await peer.exited).toEqual({ exitCode: 0, signal: undefined });
      expect(workers.every((pid) => !alive(pid))).toBe(true);
      if (peer.address.family === 'unix') expect(existsSync(peer.address.path)).toBe(false);
    });
  });
});

describe('base64Body', () => {
  it('writes byte for byte what JSON.stringify writes, for every size mod 3 and every byte value', () => {
    for (const size of [0, 1, 2, 3, 4, 5, 256, 3072, 3073]) {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 37 + size) % 256);
      const expected = Buffer.from(JSON.stringify({ prompt: Buffer.from(bytes).toString('base64') }));
      expect(base64Body('prompt', bytes).equals(expected), `size ${size}`).toBe(true);
    }
    const view = new Uint8Array(new ArrayBuffer(16), 4, 8).fill(255); // a view into a larger buffer: only its own bytes
    expect(base64Body('image', view).toString()).toBe(JSON.stringify({ image: Buffer.from(view).toString('base64') }));
  });
});
