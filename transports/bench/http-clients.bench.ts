/**
 * The http-json floor in Node (issue 15): N sequential echo requests of PAYLOAD_BYTES against a
 * real http-json sidecar on HTTP_STACK (`lean` by default) through each HTTP client (HTTP_CLIENTS,
 * or CLIENTS=lean,undici), with the framed transport on its own sidecar as the floor. Interleaved
 * blocks, each block starting with the next arm; p50 per arm, its ratio to framed, and the Node
 * process's CPU per request. Run: `npx tsx transports/bench/http-clients.bench.ts` (N=2000 BLOCKS=10 FAMILY=unix|tcp).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { formatAddress, parseAddress, type Address } from '../address.js';
import { loadTransport } from '../registry.js';
import { HTTP_CLIENTS, type HttpClientName, type Transport, type TransportOptions } from '../types.js';

const N = Number(process.env['N'] ?? 2000);
const BLOCKS = Number(process.env['BLOCKS'] ?? 10);
const PAYLOAD_BYTES = Number(process.env['PAYLOAD_BYTES'] ?? 3072);
const FAMILY = process.env['FAMILY'] ?? 'unix';
const HTTP_STACK = process.env['HTTP_STACK'] ?? 'lean';
const CLIENTS = (process.env['CLIENTS']?.split(',') ?? [...HTTP_CLIENTS]) as HttpClientName[];
const payload = Uint8Array.from({ length: PAYLOAD_BYTES }, (_, i) => (i * 31 + 7) & 0xff);
const dir = mkdtempSync(path.join(os.tmpdir(), 'http-bench-'));

async function sidecar(transport: string, extra: string[] = []): Promise<{ child: ChildProcess; address: Address }> {
  const listen = FAMILY === 'unix' ? `unix:${path.join(dir, `${transport}.sock`)}` : 'tcp:127.0.0.1:0';
  const child = spawn('.venv/bin/python', ['-m', 'sidecars', '--model', 'echo', '--transport', transport, '--listen', listen, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stdout = child.stdout;
  if (stdout === null) throw new Error('Expected a pipe for the sidecar stdout');
  const line = await new Promise<string>((resolve) => createInterface({ input: stdout }).once('line', resolve));
  const ready = JSON.parse(line) as { listen?: string; address?: string };
  return { child, address: parseAddress(ready.listen ?? ready.address ?? listen) };
}

const http = await sidecar('http-json', ['--http-stack', HTTP_STACK]);
const framed = await sidecar('framed');
const options = (address: Address, extra: Partial<TransportOptions> = {}): TransportOptions => ({ address, timeoutMs: 10_000, maxFrameBytes: 64 << 20, healthPath: '/healthz', ...extra });
const arms: { name: string; transport: Transport }[] = [{ name: 'framed', transport: await (await loadTransport('framed'))(options(framed.address)) }];
for (const httpClient of CLIENTS) arms.push({ name: httpClient, transport: await (await loadTransport('http-json'))(options(http.address, { httpClient })) });
const samples = new Map<string, number[]>(arms.map((a) => [a.name, []]));
const cpu = new Map<string, number>(arms.map((a) => [a.name, 0]));
for (const { transport } of arms) for (let i = 0; i < 200; i++) await transport.echo(payload); // warm-up
for (let b = 0; b < BLOCKS; b++) {
  for (const { name, transport } of [...arms.slice(b % arms.length), ...arms.slice(0, b % arms.length)]) {
    const out = samples.get(name) ?? [];
    const before = process.cpuUsage();
    for (let i = 0; i < N / BLOCKS; i++) {
      const t0 = process.hrtime.bigint();
      await transport.echo(payload);
      out.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const used = process.cpuUsage(before);
    cpu.set(name, (cpu.get(name) ?? 0) + used.user + used.system);
    samples.set(name, out);
  }
}
const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const floor = p50(samples.get('framed') ?? []);
console.log(`${FAMILY} ${formatAddress(http.address)} http-stack=${HTTP_STACK} payload=${PAYLOAD_BYTES} N=${N} per arm`);
for (const [name, xs] of samples) console.log(`${name.padEnd(10)} p50 ${p50(xs).toFixed(1).padStart(7)} us  x${(p50(xs) / floor).toFixed(2)} framed  client CPU ${((cpu.get(name) ?? 0) / xs.length).toFixed(1)} us/request`);
for (const { transport } of arms) await transport.close();
http.child.kill('SIGTERM');
framed.child.kill('SIGTERM');
