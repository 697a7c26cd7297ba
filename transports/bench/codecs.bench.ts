/**
 * Micro-benchmark of the msgpack codec on the echo hot path: plain maps (what the wire uses)
 * against msgpackr records, with and without structures declared up front, and the framed
 * codec as the floor. Run: `npx tsx transports/bench/codecs.bench.ts`.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { Bench } from 'tinybench';
import { encodeFrame as encodeFramedFrame } from '../framed.js';
import { decodeReply, encodeFrame } from '../msgpack.js';

const PAYLOAD_BYTES = Number(process.env['PAYLOAD_BYTES'] ?? 3072);
const OPS = 1000; // per task call, so the timer's own cost vanishes; figures are per op
const payload = Uint8Array.from({ length: PAYLOAD_BYTES }, (_, i) => (i * 31 + 7) & 0xff);
const request = (id: number): Record<string, unknown> => ({ id, op: 'echo', payload });

const records = new Packr({ useRecords: true });
const recordsIn = new Unpackr({ useRecords: true });
// Structures known to both ends up front: records without the inline definitions.
const structures: string[][] = [['id', 'op', 'payload'], ['id', 'payload']];
const shared = new Packr({ structures: structures.map((s) => [...s]), maxSharedStructures: 8 });
const sharedIn = new Unpackr({ structures: structures.map((s) => [...s]), maxSharedStructures: 8 });
const plain = new Packr({ useRecords: false });

// Replies as the Python sidecar sends them (plain maps), and as a records-speaking peer would.
const replyPlain = plain.pack({ id: 7, payload });
const replyRecords = records.pack({ id: 7, payload });
const replyShared = shared.pack({ id: 7, payload });

function check(bytes: Uint8Array, decode: (b: Uint8Array) => unknown, label: string): void {
  const value = decode(bytes) as { payload?: Uint8Array };
  if (!(value.payload instanceof Uint8Array) || value.payload.length !== PAYLOAD_BYTES) throw new Error(`${label} does not round-trip`);
}
check(replyPlain, decodeReply, 'plain');
check(replyRecords, (b) => recordsIn.unpack(b), 'records');
check(replyShared, (b) => sharedIn.unpack(b), 'shared structures');

let sink = 0;
const bench = new Bench({ name: `msgpack codec, ${PAYLOAD_BYTES}-byte echo`, time: 500, warmupTime: 200 });
const task = (name: string, op: (i: number) => Uint8Array | unknown): void => {
  bench.add(name, () => {
    for (let i = 0; i < OPS; i++) sink ^= (op(i) as Uint8Array).length ?? 1;
  });
};
task('framed: encode request', () => encodeFramedFrame(0, payload)[0]);
task('msgpack plain: encode request (wire)', (i) => encodeFrame(request(i)));
task('msgpack plain: pack, no reserved header', (i) => plain.pack(request(i)));
task('msgpack records: encode request', (i) => records.pack(request(i), RESERVE_START_SPACE | 4));
task('msgpack shared structures: encode request', (i) => shared.pack(request(i), RESERVE_START_SPACE | 4));
task('msgpack plain: decode reply (wire)', () => decodeReply(replyPlain));
task('msgpack records: decode reply', () => recordsIn.unpack(replyRecords));
task('msgpack shared structures: decode reply', () => sharedIn.unpack(replyShared));

await bench.run();
console.log(`${bench.name}; ns per op (median of ${OPS}-op batches); sizes: plain ${replyPlain.length} B, records ${replyRecords.length} B, shared ${replyShared.length} B`);
console.table(
  bench.tasks.map((t) => {
    const r = t.result as { latency?: { p50?: number; p99?: number } };
    return { task: t.name, 'ns/op p50': Math.round(((r.latency?.p50 ?? NaN) * 1e6) / OPS), 'ns/op p99': Math.round(((r.latency?.p99 ?? NaN) * 1e6) / OPS) };
  }),
);
if (sink === 0.5) console.log(sink);
