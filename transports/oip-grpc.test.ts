/** ModelInfer's messages through the real protobuf (de)serialisers: raw outputs, typed contents, and what is refused. */
import { describe, expect, it } from 'vitest';
import { inferRequest, loadOipMethods, readInferResponse, readMetadataResponse } from './oip-grpc.js';
import { makeTensor, tensorValues } from './tensors.js';
import { codeOfSync } from '../harness/testing.js';


/** A response object as a server would send it, serialised and read back as this client reads it. */
function wire(response: object): Record<string, unknown> {
  const { ModelInfer } = loadOipMethods();
  return ModelInfer.responseDeserialize(ModelInfer.responseSerialize(response as Record<string, unknown>));
}

describe('inference.GRPCInferenceService messages', () => {
  it('sends every input in raw_input_contents, in order', () => {
    const { ModelInfer } = loadOipMethods();
    const x = makeTensor('x', 'INT64', [1, 2], [2n ** 62n, -1n]);
    const request = ModelInfer.requestDeserialize(ModelInfer.requestSerialize(inferRequest('m', [x]))) as Record<string, unknown>;
    expect(request).toMatchObject({ model_name: 'm', inputs: [{ name: 'x', datatype: 'INT64', shape: ['1', '2'] }] });
    expect([...(request['raw_input_contents'] as Uint8Array[])[0]!]).toEqual([...x.data]);
  });

  it('reads raw outputs, shapes and compute_ns exactly (int64 as strings on the way)', () => {
    const y = makeTensor('y', 'FP32', [2, 1], [0.5, -1]);
    const reply = readInferResponse(wire({ outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 1] }], raw_output_contents: [y.data], parameters: { compute_ns: { int64_param: 2 ** 40 } } }));
    expect(reply.computeNs).toBe(2 ** 40);
    expect(reply.outputs[0]).toMatchObject({ name: 'y', datatype: 'FP32', shape: [2, 1] });
    expect(tensorValues(reply.outputs[0]!)).toEqual([0.5, -1]);
  });

  it('reads typed contents when a server sends those, 64-bit integers exactly', () => {
    const reply = readInferResponse(
      wire({
        outputs: [
          { name: 'l', datatype: 'INT64', shape: [2], contents: { int64_contents: ['9007199254740993', '-3'] } },
          { name: 'b', datatype: 'BOOL', shape: [1], contents: { bool_contents: [true] } },
          { name: 's', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from('ok')] } },
          { name: 'u', datatype: 'UINT8', shape: [0] },
        ],
      }),
    );
    expect(tensorValues(reply.outputs[0]!)).toEqual([9007199254740993n, -3n]);
    expect(tensorValues(reply.outputs[1]!)).toEqual([true]);
    expect(Buffer.from(tensorValues(reply.outputs[2]!)[0] as Uint8Array).toString()).toBe('ok');
    expect(reply.outputs[3]?.data.length).toBe(0);
    expect(reply.computeNs).toBeUndefined();
  });

  it('refuses a response that does not hold together: PROTOCOL_ERROR', () => {
    const out = { name: 'y', datatype: 'INT32', shape: [2] };
    expect(codeOfSync(() => readInferResponse(wire({ outputs: [out, out], raw_output_contents: [new Uint8Array(8)] })))).toBe('PROTOCOL_ERROR');
    expect(codeOfSync(() => readInferResponse(wire({ outputs: [out], raw_output_contents: [new Uint8Array(7)] })))).toBe('PROTOCOL_ERROR');
    expect(codeOfSync(() => readInferResponse(wire({ outputs: [{ ...out, contents: { int_contents: [1] } }] })))).toBe('PROTOCOL_ERROR');
    expect(codeOfSync(() => readInferResponse(wire({ outputs: [{ ...out, datatype: 'FP16' }] })))).toBe('PROTOCOL_ERROR');
    expect(codeOfSync(() => readInferResponse(wire({ outputs: [{ ...out, datatype: 'NOPE' }] })))).toBe('PROTOCOL_ERROR');
  });

  it('reads model metadata with int64 dims, -1 included', () => {
    const { ModelMetadata } = loadOipMethods();
    const sent = { name: 'm', versions: ['1'], platform: 'p', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }] };
    const metadata = readMetadataResponse(ModelMetadata.responseDeserialize(ModelMetadata.responseSerialize(sent)));
    expect(metadata).toEqual({ ...sent, outputs: [] });
  });
});
