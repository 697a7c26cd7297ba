/**
 * Where the lean-http2 client's time goes (issue 15): N sequential unary echo calls of
 * PAYLOAD_BYTES against a real grpc sidecar (grpcio, GRPC_SERVER: thread by default) through
 * (a) the lean-http2 transport, (b) a bare node:http2 loop with hand-encoded protobuf (field 1,
 * bytes) and nothing else, (c) grpc-js; and the framed transport on its own sidecar as the floor.
 * Interleaved blocks, p50 per arm and its ratio to framed.
 * Run: `npx tsx transports/bench/grpc-clients.bench.ts` (N=2000 BLOCKS=5 FAMILY=unix|tcp GRPC_SERVER=thread|aio|aio-uvloop,
 * BEFORE=file.ts to add another lean-http2 build as an arm).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { formatAddress, parseAddress, type Address } from '../address.js';
import { grpcTransport } from '../grpc-ops.js';
import type { connectLeanHttp2 } from '../grpc-lean.js';
import { loadTransport } from '../registry.js';
import type { Transport, TransportOptions } from '../types.js';

const N = Number(process.env['N'] ?? 2000);
const BLOCKS = Number(process.env['BLOCKS'] ?? 5);
const PAYLOAD_BYTES = Number(process.env['PAYLOAD_BYTES'] ?? 3072);
const FAMILY = process.env['FAMILY'] ?? 'unix';
const GRPC_SERVER = process.env['GRPC_SERVER'] ?? 'thread';
const payload = Uint8Array.from({ length: PAYLOAD_BYTES }, (_, i) => (i * 31 + 7) & 0xff);
const dir = mkdtempSync(path.join(os.tmpdir(), 'grpc-bench-'));

async function sidecar(transport: string, name: string, extra: string[] = []): Promise<{ child: ChildProcess; address: Address }> {
  const listen = FAMILY === 'unix' ? `unix:${path.join(dir, `${name}.sock`)}` : 'tcp:127.0.0.1:0';
  const child = spawn('.venv/bin/python', ['-m', 'sidecars', '--model', 'echo', '--transport', transport, '--listen', listen, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  const ready = JSON.parse(line) as { listen?: string; address?: string };
  return { child, address: parseAddress(ready.listen ?? ready.address ?? listen) };
}

/** Protobuf `bytes payload = 1` by hand, with gRPC's 5-byte prefix: the least a client must do. */
function bareRequest(): Buffer {
  const varint: number[] = [];
  for (let n = payload.length; ; n >>>= 7) {
    if (n < 0x80) { varint.push(n); break; }
    varint.push((n & 0x7f) | 0x80);
  }
  const message = Buffer.concat([Buffer.of(0x0a, ...varint), payload]);
  const framed = Buffer.alloc(5 + message.length);
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  return framed;
}

function bareClient(address: Address): { call(): Promise<number>; close(): void } {
  const authority = address.family === 'unix' ? 'http://localhost' : `http://${address.host}:${address.port}`;
  const session = http2.connect(authority, address.family === 'unix' ? { createConnection: () => net.connect(address.path) } : {});
  const body = bareRequest();
  const headers = { ':method': 'POST', ':path': '/sidecar.v1.Sidecar/Echo', 'content-type': 'application/grpc', te: 'trailers' };
  return {
    call: () =>
      new Promise((resolve, reject) => {
        const stream = session.request(headers);
        let bytes = 0;
        stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
        stream.on('error', reject);
        stream.on('close', () => resolve(bytes));
        stream.end(body);
      }),
    close: () => session.destroy(),
  };
}

type Arm = { name: string; once: () => Promise<unknown> };

async function main(): Promise<void> {
  const grpc = await sidecar('grpc', 'grpc', ['--grpc-server', GRPC_SERVER]);
  const framed = await sidecar('framed', 'framed');
  const options = (address: Address, extra: Partial<TransportOptions> = {}): TransportOptions => ({ address, timeoutMs: 10_000, maxFrameBytes: 64 << 20, ...extra });
  const transports: Transport[] = [
    await (await loadTransport('framed'))(options(framed.address)),
    await (await loadTransport('grpc'))(options(grpc.address, { grpcClient: 'lean-http2' })),
    await (await loadTransport('grpc'))(options(grpc.address, { grpcClient: 'grpc-js' })),
  ];
  const bare = bareClient(grpc.address);
  // BEFORE=path/to/grpc-lean.ts: an older lean-http2 client as one more arm, for a before/after in the same rounds.
  const before = process.env['BEFORE'];
  const older = before === undefined ? undefined : grpcTransport(await ((await import(path.resolve(before))) as { connectLeanHttp2: typeof connectLeanHttp2 }).connectLeanHttp2(options(grpc.address)), options(grpc.address));
  const [f, lean, js] = transports as [Transport, Transport, Transport];
  const arms: Arm[] = [
    { name: 'framed', once: () => f.echo(payload) },
    { name: 'lean-http2', once: () => lean.echo(payload) },
    { name: 'bare http2', once: () => bare.call() },
    { name: 'grpc-js', once: () => js.echo(payload) },
    ...(older === undefined ? [] : [{ name: 'lean (before)', once: () => older.echo(payload) }]),
  ];
  const samples = new Map<string, number[]>(arms.map((a) => [a.name, []]));
  // The Node process's own CPU per call (user + system): what the client costs, less swayed by load than latency.
  const cpu = new Map<string, number>(arms.map((a) => [a.name, 0]));
  for (const arm of arms) for (let i = 0; i < 200; i++) await arm.once(); // warm-up
  for (let b = 0; b < BLOCKS; b++) {
    // Each block starts with the next arm: garbage one arm leaves (collected in the next) is spread over all.
    for (const arm of [...arms.slice(b % arms.length), ...arms.slice(0, b % arms.length)]) {
      const out = samples.get(arm.name)!;
      const before = process.cpuUsage();
      for (let i = 0; i < N / BLOCKS; i++) {
        const t0 = process.hrtime.bigint();
        await arm.once();
        out.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      const used = process.cpuUsage(before);
      cpu.set(arm.name, (cpu.get(arm.name) ?? 0) + used.user + used.system);
    }
  }
  const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const floor = p50(samples.get('framed')!);
  console.log(`${FAMILY} ${formatAddress(grpc.address)} grpc-server=${GRPC_SERVER} payload=${PAYLOAD_BYTES} N=${N} per arm`);
  for (const [name, xs] of samples) console.log(`${name.padEnd(12)} p50 ${p50(xs).toFixed(1).padStart(7)} us  x${(p50(xs) / floor).toFixed(2)} framed  client CPU ${((cpu.get(name) ?? 0) / xs.length).toFixed(1)} us/call`);
  for (const t of transports) await t.close();
  await older?.close();
  bare.close();
  grpc.child.kill('SIGTERM');
  framed.child.kill('SIGTERM');
}

await main();
