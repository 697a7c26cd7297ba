/** The Open Inference Protocol REST body codec: the binary extension's layout, JSON data both ways, and what is refused. */
import { describe, expect, it } from 'vitest';
import { decodeInferBody, encodeInferBody } from './oip-rest.js';
import { makeTensor, tensorValues } from './tensors.js';
import { codeOfSync } from '../harness/testing.js';

const x = makeTensor('x', 'INT32', [2], [1, -2]);
const s = makeTensor('s', 'BYTES', [1], ['hé']);

describe('OIP REST request bodies', () => {
  it('binary: a JSON header of the declared length, binary_data_size per input, outputs asked for as binary, then the raw data', () => {
    const { headers, body } = encodeInferBody([x, s], 'binary');
    const length = Number(headers['inference-header-content-length']);
    expect(headers['content-type']).toBe('application/octet-stream');
    expect(JSON.parse(body.subarray(0, length).toString())).toEqual({
      inputs: [
        { name: 'x', shape: [2], datatype: 'INT32', parameters: { binary_data_size: 8 } },
        { name: 's', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 7 } },
      ],
      parameters: { binary_data_output: true },
    });
    expect([...body.subarray(length)]).toEqual([...x.data, ...s.data]);
  });

  it('json: every element in `data`, and no header length', () => {
    const { headers, body } = encodeInferBody([x, s, makeTensor('b', 'BOOL', [1], [true]), makeTensor('h', 'FP16', [1], [0.5])], 'json');
    expect(headers['inference-header-content-length']).toBeUndefined();
    expect(JSON.parse(body.toString()).inputs.map((i: { data: unknown }) => i.data)).toEqual([[1, -2], ['hé'], [true], [0.5]]);
  });

  it('json: refuses what JSON cannot carry exactly', () => {
    expect(codeOfSync(() => encodeInferBody([makeTensor('f', 'FP32', [1], [Infinity])], 'json'))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeInferBody([makeTensor('i', 'INT64', [1], [2n ** 60n])], 'json'))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeInferBody([makeTensor('b', 'BYTES', [1], [Uint8Array.of(0xff)])], 'json'))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeInferBody([makeTensor('i', 'INT64', [1], [2n ** 60n])], 'binary'))).toBe('no error');
  });
});

describe('OIP REST replies', () => {
  const header = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

  it('reads binary outputs in order after the JSON header, and the compute time from the header or parameters', () => {
    const json = header({ model_name: 'm', outputs: [{ name: 'x', datatype: 'INT32', shape: [2], parameters: { binary_data_size: 8 } }, { name: 'j', datatype: 'FP32', shape: [1, 1], data: [[0.25]] }], parameters: { compute_ns: 7 } });
    const body = Buffer.concat([json, x.data]);
    const reply = decodeInferBody({ 'inference-header-content-length': String(json.length), 'x-compute-ns': '99' }, body);
    expect(reply.computeNs).toBe(99);
    expect(tensorValues(reply.outputs[0]!)).toEqual([1, -2]);
    expect(reply.outputs[1]).toMatchObject({ name: 'j', shape: [1, 1] });
    expect(tensorValues(reply.outputs[1]!)).toEqual([0.25]);
    expect(decodeInferBody({ 'inference-header-content-length': String(json.length) }, body).computeNs).toBe(7);
  });

  it('reads JSON outputs of every kind, INT64 as exact bigints', () => {
    const body = header({ outputs: [{ name: 'l', datatype: 'INT64', shape: [2], data: [3, -4] }, { name: 's', datatype: 'BYTES', shape: [1], data: ['hé'] }, { name: 'b', datatype: 'BOOL', shape: [1], data: [false] }] });
    const reply = decodeInferBody({}, body);
    const [l, str, b] = reply.outputs.map((o) => tensorValues(o));
    expect([l, b]).toEqual([[3n, -4n], [false]]);
    expect(str?.map((v) => Buffer.from(v as Uint8Array).toString())).toEqual(['hé']);
    expect(reply.computeNs).toBeUndefined();
  });

  it('refuses a reply that does not hold together: PROTOCOL_ERROR', () => {
    const out = { name: 'x', datatype: 'INT32', shape: [2], parameters: { binary_data_size: 8 } };
    const json = header({ outputs: [out] });
    const withBinary = (extra: Uint8Array, length = json.length): string => codeOfSync(() => decodeInferBody({ 'inference-header-content-length': String(length) }, Buffer.concat([json, extra])));
    expect(withBinary(x.data)).toBe('no error');
    for (let cut = 0; cut < 8; cut++) expect(withBinary(x.data.subarray(0, cut))).toBe('PROTOCOL_ERROR');
    expect(withBinary(Buffer.concat([x.data, Uint8Array.of(0)]))).toBe('PROTOCOL_ERROR');
    expect(withBinary(x.data, json.length + 100)).toBe('PROTOCOL_ERROR');
    const seven = header({ outputs: [{ ...out, parameters: { binary_data_size: 7 } }] });
    expect(codeOfSync(() => decodeInferBody({ 'inference-header-content-length': String(seven.length) }, Buffer.concat([seven, x.data.subarray(0, 7)])))).toBe('PROTOCOL_ERROR');
    const bad = (outputs: unknown): string => codeOfSync(() => decodeInferBody({}, header({ outputs })));
    expect(bad([{ name: 'l', datatype: 'INT64', shape: [1], data: [2 ** 60] }])).toBe('PROTOCOL_ERROR'); // JSON.parse may have rounded it
    expect(bad([{ name: 'l', datatype: 'INT32', shape: [2], data: [1] }])).toBe('PROTOCOL_ERROR');
    expect(bad([{ name: 'l', datatype: 'INT32', shape: [1], data: [1.5] }])).toBe('PROTOCOL_ERROR');
    expect(bad([{ name: 'l', datatype: 'FP8', shape: [1], data: [1] }])).toBe('PROTOCOL_ERROR');
    expect(bad('nope')).toBe('PROTOCOL_ERROR');
    expect(codeOfSync(() => decodeInferBody({}, Buffer.from('<html>')))).toBe('PROTOCOL_ERROR');
  });
});
