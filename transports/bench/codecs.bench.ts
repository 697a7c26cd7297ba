/**
 * Micro-benchmark of the msgpack codec on the echo hot path: the hand-written echo path the wire
 * uses, msgpackr with plain maps, and msgpackr records (inline, and with structures declared up
 * front), with framed's encoder as the floor. Run: `npx tsx transports/bench/codecs.bench.ts`
 * (PAYLOAD_BYTES=... for another size). Figures are per request, from batches of 1000.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { Bench } from 'tinybench';
import { encodeFrame as encodeFramedFrame } from '../framed.js';
import { decodeEchoReply, decodeReply, encodeEchoFrame, encodeFrame } from '../msgpack.js';

const PAYLOAD_BYTES = Number(process.env['PAYLOAD_BYTES'] ?? 3072);
const OPS = 1000;
const payload = Uint8Array.from({ length: PAYLOAD_BYTES }, (_, i) => (i * 31 + 7) & 0xff);
const request = (id: number): Record<string, unknown> => ({ id, op: 'echo', payload });

const records = new Packr({ useRecords: true });
const recordsIn = new Unpackr({ useRecords: true });
// Structures known to both ends beforehand: records without their inline definitions.
const structures = (): string[][] => [['id', 'op', 'payload'], ['id', 'payload']];
const shared = new Packr({ structures: structures(), maxSharedStructures: 8 });
const sharedIn = new Unpackr({ structures: structures(), maxSharedStructures: 8 });

// The reply as the Python sidecar writes it (fixmap, id as uint16, bin16), and as records would be.
const replyWire = Buffer.concat([Uint8Array.of(0x82, 0xa2, 0x69, 0x64, 0xcd, 0x30, 0x39, 0xa7), Buffer.from('payload'), binHeader(PAYLOAD_BYTES), payload]);
const replyRecords = records.pack({ id: 12_345, payload });
const replyShared = shared.pack({ id: 12_345, payload });

function binHeader(size: number): Uint8Array {
  if (size < 0x100) return Uint8Array.of(0xc4, size);
  if (size < 0x10000) return Uint8Array.of(0xc5, size >> 8, size & 0xff);
  return Uint8Array.of(0xc6, size >>> 24, (size >> 16) & 0xff, (size >> 8) & 0xff, size & 0xff);
}

for (const [label, decoded] of [
  ['hand', decodeEchoReply(replyWire)],
  ['msgpackr', decodeReply(replyWire)],
  ['records', recordsIn.unpack(replyRecords)],
  ['shared structures', sharedIn.unpack(replyShared)],
] as const) {
  const p = (decoded as { payload?: Uint8Array } | undefined)?.payload;
  if (!(p instanceof Uint8Array) || !Buffer.from(p).equals(Buffer.from(payload))) throw new Error(`${label} does not round-trip`);
}

let sink = 0;
const bench = new Bench({ name: `msgpack codec, ${PAYLOAD_BYTES}-byte echo`, time: 500, warmupTime: 200 });
const task = (name: string, op: (i: number) => { length: number } | Uint8Array[] | undefined): void => {
  bench.add(name, () => {
    for (let i = 0; i < OPS; i++) sink ^= op(i)?.length ?? 1;
  });
};
task('framed: encode request (floor)', () => encodeFramedFrame(0, payload));
task('wire, hand: encode echo request', (i) => encodeEchoFrame(i + 1, payload));
task('msgpackr plain maps: encode request', (i) => encodeFrame(request(i + 1)));
task('msgpackr records: encode request', (i) => records.pack(request(i + 1), RESERVE_START_SPACE | 4));
task('msgpackr shared structures: encode request', (i) => shared.pack(request(i + 1), RESERVE_START_SPACE | 4));
task('wire, hand: decode echo reply', () => decodeEchoReply(replyWire)?.payload as Uint8Array);
task('msgpackr plain maps: decode reply', () => decodeReply(replyWire).payload as Uint8Array);
task('msgpackr records: decode reply', () => (recordsIn.unpack(replyRecords) as { payload: Uint8Array }).payload);
task('msgpackr shared structures: decode reply', () => (sharedIn.unpack(replyShared) as { payload: Uint8Array }).payload);

await bench.run();
const sizes = `reply sizes: plain ${replyWire.length} B, records ${replyRecords.length} B, shared structures ${replyShared.length} B`;
console.log(`${bench.name}: ns per request, from ${OPS}-request batches; ${sizes}`);
console.table(
  bench.tasks.map((t) => {
    const latency = (t.result as { latency?: { p50?: number; p99?: number } }).latency;
    const ns = (ms: number | undefined): number => Math.round(((ms ?? Number.NaN) * 1e6) / OPS);
    return { task: t.name, 'p50 ns': ns(latency?.p50), 'p99 ns': ns(latency?.p99) };
  }),
);
if (sink === 0.5) console.log(sink); // keeps `sink` alive so the work is not optimised away
