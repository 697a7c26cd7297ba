/**
 * Micro-benchmark of each wire's infer codec, with no I/O: encoding one request and decoding one
 * reply for the same tensors (framed's tensor list, msgpack maps, OIP REST binary and JSON, OIP
 * gRPC protobuf). Run: `npx tsx transports/bench/tensors.bench.ts` (ELEMENTS=... FP32 elements per
 * tensor, default 32 x 64). Figures are per request and reply, from batches of 100.
 */
import { Bench } from 'tinybench';
import { decodeInferReply, encodeInferReply, encodeTensorList } from '../framed-tensors.js';
import { decodeReply, encodeFrame } from '../msgpack.js';
import { inferReply, wireTensor } from '../msgpack-tensors.js';
import { inferRequest, loadOipMethods, readInferResponse } from '../oip-grpc.js';
import { decodeInferBody, encodeInferBody } from '../oip-rest.js';
import { makeTensor } from '../tensors.js';
import type { Tensor } from '../types.js';

const ELEMENTS = Number(process.env['ELEMENTS'] ?? 32 * 64);
const OPS = 100;
const input = makeTensor('x', 'FP32', [ELEMENTS], Array.from({ length: ELEMENTS }, (_, i) => Math.sin(i)));
const output = makeTensor('y', 'FP32', [ELEMENTS], Array.from({ length: ELEMENTS }, (_, i) => Math.cos(i)));

// Each wire's reply bytes for `output`, as its server would send them.
const framedReply = encodeInferReply({ outputs: [output], computeNs: 1000 });
const msgpackReply = encodeFrame({ id: 1, outputs: [wireTensor(output)], compute_ns: 1000 }).subarray(4);
const restHeader = Buffer.from(JSON.stringify({ outputs: [{ name: 'y', datatype: 'FP32', shape: [ELEMENTS], parameters: { binary_data_size: output.data.length } }] }));
const restBinary = Buffer.concat([restHeader, output.data]);
const restJson = encodeInferBody([{ ...output, name: 'y' }], 'json').body.toString().replace('"inputs"', '"outputs"');
const { ModelInfer } = loadOipMethods();
const grpcReply = ModelInfer.responseSerialize({ outputs: [{ name: 'y', datatype: 'FP32', shape: [ELEMENTS] }], raw_output_contents: [output.data] });

const cases: Record<string, () => unknown> = {
  framed: () => [encodeTensorList([input]), decodeInferReply(framedReply)],
  msgpack: () => [encodeFrame({ id: 1, op: 'infer', inputs: [wireTensor(input)] }), inferReply(decodeReply(msgpackReply))],
  'http-json binary': () => [encodeInferBody([input], 'binary'), decodeInferBody({ 'inference-header-content-length': String(restHeader.length) }, restBinary)],
  'http-json json': () => [encodeInferBody([input], 'json'), decodeInferBody({}, Buffer.from(restJson))],
  grpc: () => [ModelInfer.requestSerialize(inferRequest('m', [input] as Tensor[])), readInferResponse(ModelInfer.responseDeserialize(grpcReply))],
};

const bench = new Bench({ time: 500 });
for (const [name, run] of Object.entries(cases)) {
  run(); // fails here, not inside the timing, if a codec is broken
  bench.add(name, () => {
    for (let i = 0; i < OPS; i++) run();
  });
}
await bench.run();
console.log(`infer codec, one FP32 tensor of ${ELEMENTS} elements each way (${input.data.length} bytes), per request and reply:`);
for (const task of bench.tasks) {
  const mean = (task.result as { latency?: { mean?: number } } | undefined)?.latency?.mean;
  console.log(`${task.name.padEnd(18)} ${mean === undefined ? 'n/a' : `${((mean * 1000) / OPS).toFixed(2)} us`}`);
}
