/** The framed tensor-list codec: layout byte by byte, round trips, and a truncation loop. */
import { describe, expect, it } from 'vitest';
import { decodeInferReply, decodeTensorList, encodeInferReply, encodeTensorList } from './framed-tensors.js';
import { makeTensor } from './tensors.js';
import { TENSOR_DATATYPES, type Tensor } from './types.js';
import { codeOfSync } from '../harness/testing.js';

const joined = (tensors: readonly Tensor[]): Uint8Array => Buffer.concat(encodeTensorList(tensors));
const plain = (t: Tensor): unknown => ({ ...t, data: [...t.data] });

describe('framed tensor list', () => {
  it('lays a tensor out as the wire spec says', () => {
    const body = joined([makeTensor('ab', 'INT16', [2, 1], [1, -1])]);
    expect([...body]).toEqual([1, 2, 97, 98, 6, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4, 1, 0, 0xff, 0xff]);
  });

  it('round-trips every datatype, scalars, empty tensors and a large tensor sent uncopied', () => {
    const tensors: Tensor[] = TENSOR_DATATYPES.map((datatype, i) =>
      datatype === 'BYTES' ? makeTensor(`t${i}`, datatype, [2], ['x', 'yz']) : { name: `t${i}`, datatype, shape: [3], data: Uint8Array.from({ length: 3 * [1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8][i]! }, (_, j) => j) },
    );
    tensors.push({ name: 'scalar', datatype: 'FP64', shape: [], data: new Uint8Array(8) }, { name: 'empty', datatype: 'FP32', shape: [0, 4], data: new Uint8Array(0) });
    const big: Tensor = { name: 'big', datatype: 'UINT8', shape: [100_000], data: Uint8Array.from({ length: 100_000 }, (_, i) => i & 0xff) };
    const parts = encodeTensorList([...tensors, big]);
    expect(parts).toContain(big.data);
    expect(decodeTensorList(Buffer.concat(parts)).map(plain)).toEqual([...tensors, big].map(plain));
  });

  it('refuses what the wire cannot carry before sending', () => {
    const t = makeTensor('x', 'UINT8', [1], [1]);
    expect(codeOfSync(() => encodeTensorList([]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeTensorList(Array.from({ length: 65 }, () => t)))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeTensorList([{ ...t, name: 'n'.repeat(256) }]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeTensorList([{ ...t, name: '' }]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeTensorList([{ ...t, shape: [1, 1, 1, 1, 1, 1, 1, 1, 1] }]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => encodeTensorList([{ ...t, datatype: 'FP8' as 'FP16' }]))).toBe('BAD_INPUT');
  });

  it('decodes a reply with its compute time, and refuses every truncation and trailing bytes', () => {
    const outputs = [makeTensor('y', 'FP32', [1, 2], [0.5, -1]), makeTensor('names', 'BYTES', [1], ['cat'])];
    const body = encodeInferReply({ outputs, computeNs: 123_456_789 });
    const reply = decodeInferReply(body);
    expect(reply.computeNs).toBe(123_456_789);
    expect(reply.outputs.map(plain)).toEqual(outputs.map(plain));
    for (let cut = 0; cut < body.length; cut++) expect(codeOfSync(() => decodeInferReply(body.subarray(0, cut)))).toBe('PROTOCOL_ERROR');
    expect(codeOfSync(() => decodeInferReply(Buffer.concat([body, Uint8Array.of(0)])))).toBe('PROTOCOL_ERROR');
  });

  it('refuses a count, name, datatype code or rank out of range', () => {
    const good = Buffer.from(encodeInferReply({ outputs: [makeTensor('y', 'UINT8', [1], [7])], computeNs: 0 }));
    const broken = (at: number, value: number): string => {
      const copy = Buffer.from(good);
      copy[at] = value;
      return codeOfSync(() => decodeInferReply(copy));
    };
    expect(broken(8, 0)).toBe('PROTOCOL_ERROR'); // T = 0
    expect(broken(8, 65)).toBe('PROTOCOL_ERROR'); // T > 64
    expect(broken(9, 0)).toBe('PROTOCOL_ERROR'); // empty name
    expect(broken(10, 0xff)).toBe('PROTOCOL_ERROR'); // name not UTF-8
    expect(broken(11, 13)).toBe('PROTOCOL_ERROR'); // datatype code
    expect(broken(12, 9)).toBe('PROTOCOL_ERROR'); // rank
    expect(codeOfSync(() => decodeTensorList(good.subarray(8, good.length - 1)))).toBe('BAD_INPUT'); // a request is the caller's fault
    const short = Buffer.from(encodeInferReply({ outputs: [{ name: 'y', datatype: 'INT32', shape: [2], data: new Uint8Array(7) }] }));
    expect(codeOfSync(() => decodeInferReply(short))).toBe('PROTOCOL_ERROR'); // well framed, but 7 bytes are no INT32 [2]
  });
});
