/**
 * Where the lean-http2 client's time goes (issue 15): N sequential unary echo calls of
 * PAYLOAD_BYTES against a real grpc sidecar (grpcio, GRPC_SERVER: thread by default) through
 * (a) the lean-http2 transport, (b) a bare node:http2 loop with hand-encoded protobuf (field 1,
 * bytes) and nothing else, (c) grpc-js; and the framed transport on its own sidecar as the floor.
 * With BARE=1, two more arms call the least a grpcio server can do (scripts/bench/bare_grpcio_server.py:
 * a generic handler returning the request's bytes, GRPC_SERVER thread or aio-uvloop) through
 * lean-http2 and the bare loop. Interleaved blocks, p50 per arm and its ratio to framed, and the
 * CPU per call of the client (this process) and of the arm's server process (Linux /proc).
 * Run: `npx tsx transports/bench/grpc-clients.bench.ts` (N=2000 BLOCKS=5 FAMILY=unix|tcp GRPC_SERVER=thread|aio|aio-uvloop,
 * BARE=1, BEFORE=file.ts to add another lean-http2 build as an arm).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
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

const MAX_BYTES = 64 << 20;
const children: ChildProcess[] = []; // stopped in main's finally, whatever happens

async function sidecar(transport: string, name: string, extra: string[] = []): Promise<{ child: ChildProcess; address: Address }> {
  const listen = FAMILY === 'unix' ? `unix:${path.join(dir, `${name}.sock`)}` : 'tcp:127.0.0.1:0';
  // The bare server with the sidecar's message limits and the same server API as GRPC_SERVER.
  const args = transport === 'bare-grpcio' ? ['scripts/bench/bare_grpcio_server.py', listen, GRPC_SERVER, String(MAX_BYTES)] : ['-m', 'sidecars', '--model', 'echo', '--transport', transport, '--listen', listen, '--max-frame-bytes', String(MAX_BYTES), ...extra];
  const child = spawn('.venv/bin/python', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${transport} exited (${code}) before its ready line`)));
  });
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
  session.on('error', () => undefined); // a server stopped first ends the session: nothing to report
  const body = bareRequest();
  const headers = { ':method': 'POST', ':path': '/sidecar.v1.Sidecar/Echo', 'content-type': 'application/grpc', te: 'trailers' };
  return {
    call: () =>
      new Promise((resolve, reject) => {
        const stream = session.request(headers);
        let bytes = 0;
        let status: string | undefined;
        const statusOf = (h: http2.IncomingHttpHeaders): void => {
          if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        };
        stream.on('response', statusOf); // a trailers-only reply (an error) has it here
        stream.on('trailers', statusOf);
        stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
        stream.on('error', reject);
        stream.on('close', () => (status === '0' ? resolve(bytes) : reject(new Error(`bare call ended with grpc-status ${status ?? 'none'}`))));
        stream.end(body);
      }),
    close: () => session.destroy(),
  };
}

type Arm = { name: string; once: () => Promise<unknown>; server: ChildProcess };

/**
 * A process's CPU time so far, all its threads, in microseconds, from the scheduler's nanosecond
 * account (/proc/PID/task/TID/schedstat, first field); NaN where /proc cannot tell. /proc/PID/stat
 * counts 10 ms ticks: 25 us/call steps in a block of 400 calls, as large as what is compared.
 */
function processCpuUs(child: ChildProcess): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${child.pid}/task`)) ns += Number(readFileSync(`/proc/${child.pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns / 1000;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const grpc = await sidecar('grpc', 'grpc', ['--grpc-server', GRPC_SERVER]);
  const framed = await sidecar('framed', 'framed');
  const options = (address: Address, extra: Partial<TransportOptions> = {}): TransportOptions => ({ address, timeoutMs: 10_000, maxFrameBytes: MAX_BYTES, ...extra });
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
    { name: 'framed', once: () => f.echo(payload), server: framed.child },
    { name: 'lean-http2', once: () => lean.echo(payload), server: grpc.child },
    { name: 'bare http2', once: () => bare.call(), server: grpc.child },
    { name: 'grpc-js', once: () => js.echo(payload), server: grpc.child },
    ...(older === undefined ? [] : [{ name: 'lean (before)', once: () => older.echo(payload), server: grpc.child }]),
  ];
  const closers: (() => void)[] = [];
  // BARE=1: the same clients against grpcio doing nothing but return the bytes.
  const bareServer = process.env['BARE'] === '1' ? await sidecar('bare-grpcio', 'bare') : undefined;
  if (bareServer !== undefined) {
    const leanOnBare = await (await loadTransport('grpc'))(options(bareServer.address, { grpcClient: 'lean-http2' }));
    transports.push(leanOnBare);
    const bareOnBare = bareClient(bareServer.address);
    closers.push(() => bareOnBare.close());
    arms.push({ name: 'lean > bare', once: () => leanOnBare.echo(payload), server: bareServer.child });
    arms.push({ name: 'bare > bare', once: () => bareOnBare.call(), server: bareServer.child });
  }
  const samples = new Map<string, number[]>(arms.map((a) => [a.name, []]));
  // The Node process's own CPU per call (user + system): what the client costs, less swayed by load than latency.
  const cpu = new Map<string, number>(arms.map((a) => [a.name, 0]));
  const serverCpu = new Map<string, number>(arms.map((a) => [a.name, 0]));
  for (const arm of arms) for (let i = 0; i < 200; i++) await arm.once(); // warm-up
  for (let b = 0; b < BLOCKS; b++) {
    // Each block starts with the next arm: garbage one arm leaves (collected in the next) is spread over all.
    for (const arm of [...arms.slice(b % arms.length), ...arms.slice(0, b % arms.length)]) {
      const out = samples.get(arm.name)!;
      const before = process.cpuUsage();
      const serverBefore = processCpuUs(arm.server);
      for (let i = 0; i < N / BLOCKS; i++) {
        const t0 = process.hrtime.bigint();
        await arm.once();
        out.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      const used = process.cpuUsage(before);
      cpu.set(arm.name, (cpu.get(arm.name) ?? 0) + used.user + used.system);
      serverCpu.set(arm.name, (serverCpu.get(arm.name) ?? 0) + processCpuUs(arm.server) - serverBefore);
    }
  }
  const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  const floor = p50(samples.get('framed')!);
  console.log(`${FAMILY} ${formatAddress(grpc.address)} grpc-server=${GRPC_SERVER} payload=${PAYLOAD_BYTES} N=${N} per arm`);
  for (const [name, xs] of samples) {
    const perCall = (total: number | undefined): string => ((total ?? NaN) / xs.length).toFixed(1);
    console.log(`${name.padEnd(12)} p50 ${p50(xs).toFixed(1).padStart(7)} us  x${(p50(xs) / floor).toFixed(2)} framed  CPU us/call: client ${perCall(cpu.get(name))}, server ${perCall(serverCpu.get(name))}`);
  }
  for (const t of transports) await t.close();
  await older?.close();
  bare.close();
  for (const close of closers) close();
}

try {
  await main();
} finally {
  for (const child of children) child.kill('SIGTERM'); // once each: the servers, however main ended
}
