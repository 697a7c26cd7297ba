/** Tensor helpers: sizes and checks, BYTES packing, values both ways, typed views, and agreement. */
import { describe, expect, it } from 'vitest';
import { compareOutputs, compareTensors, EXACT } from './tensor-compare.js';
import { checkTensor, ELEMENT_BYTES, fp16ToNumber, makeTensor, numberToFp16, packBytes, tensorValues, typedView, unpackBytes } from './tensors.js';
import { TENSOR_DATATYPES, type Tensor } from './types.js';
import { codeOfSync } from '../harness/testing.js';


describe('tensor sizes and checks', () => {
  it('knows every datatype', () => {
    expect(Object.keys(ELEMENT_BYTES).sort()).toEqual([...TENSOR_DATATYPES].sort());
  });

  it('accepts a well-formed tensor of each datatype and refuses one byte more or less', () => {
    for (const datatype of TENSOR_DATATYPES) {
      const values = datatype === 'BYTES' ? ['a', '', 'ccc', 'dd', 'e', 'f'] : datatype.endsWith('64') && datatype !== 'FP64' ? [1n, 2n, 3n, 4n, 5n, 6n] : [1, 0, 1, 1, 0, 1];
      const t = makeTensor('x', datatype, [2, 3], values);
      expect(() => checkTensor(t)).not.toThrow();
      expect(codeOfSync(() => checkTensor({ ...t, data: t.data.subarray(1) }))).toBe('BAD_INPUT');
      expect(codeOfSync(() => checkTensor({ ...t, data: Buffer.concat([t.data, Uint8Array.of(0)]) }))).toBe('BAD_INPUT');
    }
  });

  it('refuses a bad name, datatype or shape', () => {
    const good = makeTensor('x', 'UINT8', [2], [1, 2]);
    expect(codeOfSync(() => checkTensor({ ...good, name: '' }))).toBe('BAD_INPUT');
    expect(codeOfSync(() => checkTensor({ ...good, datatype: 'FP8' as 'FP16' }))).toBe('BAD_INPUT');
    expect(codeOfSync(() => checkTensor({ ...good, shape: [-1, -2] }))).toBe('BAD_INPUT');
    expect(codeOfSync(() => checkTensor({ ...good, shape: [1, 1, 1, 1, 1, 1, 1, 1, 2] }))).toBe('BAD_INPUT');
  });

  it('refuses values that do not fit the datatype', () => {
    expect(codeOfSync(() => makeTensor('x', 'UINT8', [1], [256]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => makeTensor('x', 'INT8', [1], [-129]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => makeTensor('x', 'INT32', [1], [1.5]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => makeTensor('x', 'UINT64', [1], [-1n]))).toBe('BAD_INPUT');
    expect(codeOfSync(() => makeTensor('x', 'FP32', [2], [1]))).toBe('BAD_INPUT');
  });
});

describe('BYTES packing', () => {
  it('packs each element as a u32 LE length then its bytes, and unpacks it back', () => {
    const packed = packBytes(['hi', Uint8Array.of(0, 255), '']);
    expect([...packed]).toEqual([2, 0, 0, 0, 104, 105, 2, 0, 0, 0, 0, 255, 0, 0, 0, 0]);
    expect(unpackBytes(packed).map((e) => [...e])).toEqual([[104, 105], [0, 255], []]);
  });

  it('refuses data cut inside a length or an element, at every cut', () => {
    const packed = packBytes(['hello', 'world']);
    for (let cut = 1; cut < packed.length; cut++) {
      if (cut === 9) continue; // a whole first element: valid, one element
      expect(codeOfSync(() => unpackBytes(packed.subarray(0, cut)))).toBe('BAD_INPUT');
    }
  });
});

describe('values', () => {
  it('reads back what it writes, little-endian', () => {
    const t = makeTensor('x', 'INT32', [3], [-1, 0, 0x01020304]);
    expect([...t.data.subarray(8)]).toEqual([4, 3, 2, 1]);
    expect(tensorValues(t)).toEqual([-1, 0, 0x01020304]);
    expect(tensorValues(makeTensor('b', 'BOOL', [2], [true, false]))).toEqual([true, false]);
    expect(tensorValues(makeTensor('u', 'UINT64', [1], [2n ** 64n - 1n]))).toEqual([2n ** 64n - 1n]);
  });

  it('converts FP16 both ways, rounding to nearest even, with NaN and infinities', () => {
    const cases: [number, number][] = [[0, 0], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [1e6, 0x7c00], [-Infinity, 0xfc00], [2 ** -24, 0x0001], [0.1, 0x2e66], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02]];
    for (const [value, bits] of cases) expect(numberToFp16(value)).toBe(bits);
    expect(Number.isNaN(fp16ToNumber(numberToFp16(NaN)))).toBe(true);
    for (const bits of [0x0001, 0x03ff, 0x3c00, 0x7bff, 0xc000, 0x2e66]) expect(numberToFp16(fp16ToNumber(bits))).toBe(bits);
  });

  it('gives typed views, copying only unaligned data, and FP16 as float32', () => {
    const t = makeTensor('x', 'FP32', [2], [1.5, -2]);
    const view = typedView(t);
    expect(view).toBeInstanceOf(Float32Array);
    expect(view.buffer).toBe(t.data.buffer);
    const unaligned = Buffer.concat([Uint8Array.of(9), t.data]).subarray(1);
    expect([...typedView({ ...t, data: unaligned })]).toEqual([1.5, -2]);
    expect([...typedView(makeTensor('h', 'FP16', [2], [0.5, 3]))]).toEqual([0.5, 3]);
    expect(typedView(makeTensor('i', 'INT64', [1], [-5n]))).toEqual(BigInt64Array.of(-5n));
  });
});

describe('agreement', () => {
  const f = (values: number[], name = 'y'): Tensor => makeTensor(name, 'FP32', [values.length], values);

  it('takes floats within the tolerance, NaN as equal to NaN, and nothing else', () => {
    expect(compareTensors(f([1, NaN, Infinity]), f([1, NaN, Infinity]))).toEqual({ ok: true });
    expect(compareTensors(f([1]), f([1.001]), { absolute: 0, relative: 1e-2 }).ok).toBe(true);
    expect(compareTensors(f([1]), f([1.001])).ok).toBe(false);
    expect(compareTensors(f([NaN]), f([0])).ok).toBe(false);
    expect(compareTensors(f([Infinity]), f([-Infinity]), { absolute: 1e9, relative: 1 }).ok).toBe(false);
  });

  it('compares integers, BOOL and BYTES exactly, whatever the tolerance', () => {
    const loose = { absolute: 10, relative: 1 };
    expect(compareTensors(makeTensor('i', 'INT32', [1], [1]), makeTensor('i', 'INT32', [1], [2]), loose).ok).toBe(false);
    expect(compareTensors(makeTensor('s', 'BYTES', [1], ['a']), makeTensor('s', 'BYTES', [1], ['b']), loose).ok).toBe(false);
    expect(compareTensors(makeTensor('s', 'BYTES', [1], ['a']), makeTensor('s', 'BYTES', [1], ['a']), EXACT).ok).toBe(true);
  });

  it('names the difference: datatype, shape, element', () => {
    const result = compareTensors(f([1, 2]), f([1, 3]));
    expect(result.ok ? '' : result.reason).toMatch(/`y`.*element 1/);
    expect(compareTensors(f([1, 2]), makeTensor('y', 'FP64', [2], [1, 2])).ok).toBe(false);
    expect(compareTensors(f([1, 2]), makeTensor('y', 'FP32', [1, 2], [1, 2])).ok).toBe(false);
  });

  it('matches output lists by name, and misses nothing either way', () => {
    expect(compareOutputs([f([1], 'a'), f([2], 'b')], [f([2], 'b'), f([1], 'a')]).ok).toBe(true);
    expect(compareOutputs([f([1], 'a')], [f([1], 'a'), f([2], 'b')]).ok).toBe(false);
    expect(compareOutputs([f([1], 'a'), f([2], 'b')], [f([1], 'a')]).ok).toBe(false);
  });
});
