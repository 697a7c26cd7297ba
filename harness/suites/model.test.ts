/** The model suite's parts that need no sidecar: request synthesis, the inputs file, the agreement check, the options. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeTensorList } from '../../transports/framed-tensors.js';
import { makeTensor, tensorValues } from '../../transports/tensors.js';
import type { ModelMetadata, Tensor } from '../../transports/types.js';
import { resolveConfig } from '../config.js';
import { modelSpecArg } from '../model-flags.js';
import { codeOf } from '../testing.js';
import { modelAgreementCheck, type OutputsByRequest } from './model-agreement.js';
import { FREE_DIM, INT_RANGE, readModelInputs, synthesiseRequests } from './model-inputs.js';
import { parseMetadata } from './model-metadata.js';
import { requestsFile } from './model.js';

const META: ModelMetadata = {
  name: 'all-types',
  inputs: [
    { name: 'features', datatype: 'FP32', shape: [-1, 4] },
    { name: 'half', datatype: 'FP16', shape: [2] },
    { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
    { name: 'mask', datatype: 'BOOL', shape: [3] },
    { name: 'text', datatype: 'BYTES', shape: [-1] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1] }],
};

const byName = (request: readonly Tensor[], name: string): Tensor => request.find((t) => t.name === name) as Tensor;

describe('synthesiseRequests', () => {
  it('makes the same requests for a seed, every input in range and of its declared shape', () => {
    const a = synthesiseRequests(META, { seed: 7, count: 5, batch: 1 });
    const b = synthesiseRequests(META, { seed: 7, count: 5, batch: 1 });
    expect(a).toEqual(b);
    expect(synthesiseRequests(META, { seed: 8, count: 5, batch: 1 })).not.toEqual(a);
    expect(a).toHaveLength(5);
    for (const request of a) {
      expect(request.map((t) => t.name)).toEqual(META.inputs.map((s) => s.name));
      expect(byName(request, 'features').shape).toEqual([1, 4]);
      expect(byName(request, 'ids').shape).toEqual([1, FREE_DIM]);
      expect(byName(request, 'text').shape).toEqual([1]);
      for (const v of tensorValues(byName(request, 'features')) as number[]) expect(Math.abs(v)).toBeLessThanOrEqual(1);
      for (const v of tensorValues(byName(request, 'half')) as number[]) expect(Math.abs(v)).toBeLessThanOrEqual(1);
      for (const v of tensorValues(byName(request, 'ids')) as bigint[]) expect(v >= 0n && v < BigInt(INT_RANGE)).toBe(true);
      for (const v of tensorValues(byName(request, 'mask'))) expect(typeof v).toBe('boolean');
      const text = Buffer.from(tensorValues(byName(request, 'text'))[0] as Uint8Array).toString('ascii');
      expect(text).toMatch(/^[a-z]+( [a-z]+)*$/);
    }
    expect(synthesiseRequests(META, { seed: 7, count: 1, batch: 3 })[0]?.[0]?.shape).toEqual([3, 4]);
  });

  it('refuses a model with no inputs', async () => {
    expect(await codeOf(Promise.resolve().then(() => synthesiseRequests({ ...META, inputs: [] }, { seed: 1, count: 1, batch: 1 })))).toBe('USAGE');
  });

  it('writes the in-process driver file: per request a u32 BE length and a framed tensor list', () => {
    const requests = synthesiseRequests(META, { seed: 1, count: 3, batch: 1 });
    const file = requestsFile(requests);
    const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
    const decoded: Tensor[][] = [];
    for (let at = 0; at < file.length; ) {
      const length = view.getUint32(at);
      decoded.push(decodeTensorList(file.subarray(at + 4, at + 4 + length)));
      at += 4 + length;
    }
    expect(decoded.map((r) => r.map((t) => ({ ...t, data: Buffer.from(t.data) })))).toEqual(requests.map((r) => r.map((t) => ({ ...t, data: Buffer.from(t.data) }))));
  });
});

describe('readModelInputs', () => {
  const meta: ModelMetadata = { name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 2] }, { name: 's', datatype: 'BYTES', shape: [-1] }], outputs: [] };
  const file = async (value: unknown): Promise<string> => {
    const f = path.join(await mkdtemp(path.join(os.tmpdir(), 'model-inputs-')), 'inputs.json');
    await writeFile(f, JSON.stringify(value));
    return f;
  };

  it('reads one request or several, data flat or nested', async () => {
    const one = await readModelInputs(await file({ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [[0.5, -1]] }, { name: 's', datatype: 'BYTES', shape: [1], data: ['hi'] }] }), meta);
    expect(one).toHaveLength(1);
    expect(tensorValues(byName(one[0] as Tensor[], 'x'))).toEqual([0.5, -1]);
    const two = await readModelInputs(await file({ requests: [{ inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }, { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] }] }, { inputs: [{ name: 'x', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] }, { name: 's', datatype: 'BYTES', shape: [2], data: ['a', 'b'] }] }] }), meta);
    expect(two.map((r) => byName(r, 'x').shape)).toEqual([[1, 2], [2, 2]]);
  });

  it('refuses a file that does not fit the model, naming what is wrong', async () => {
    const cases: unknown[] = [
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1] }, { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] }] },
      { inputs: [{ name: 'x', datatype: 'INT32', shape: [1, 2], data: [1, 2] }, { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] },
      { inputs: [{ name: 'nope', datatype: 'FP32', shape: [1], data: [1] }] },
      { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: [1, 'two'] }, { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] }] },
      { inputs: [] },
      [1, 2],
    ];
    for (const c of cases) expect(await codeOf(readModelInputs(await file(c), meta)), JSON.stringify(c)).toBe('USAGE');
  });
});

describe('modelAgreementCheck', () => {
  const out = (y: number[], label: number): Tensor[] => [makeTensor('y', 'FP32', [y.length], y), makeTensor('label', 'INT64', [1], [label])];
  const reference: OutputsByRequest = [out([0.5, 0.25], 1), out([1e-9, -3], 2)];

  it('passes when every arm answers alike, floats within the tolerance', () => {
    const check = modelAgreementCheck(reference, new Map([['framed over unix', [out([0.5, 0.25], 1), out([1.5e-9, -3.00001], 2)]]]), 1e-5);
    expect(check.ok, check.detail).toBe(true);
    expect(check.detail).toContain('framed over unix');
  });

  it('fails on a float past the tolerance or any integer difference, naming the first mismatch', () => {
    const float = modelAgreementCheck(reference, new Map([['grpc over tcp', [out([0.5, 0.2501], 1), reference[1]]]]), 1e-5);
    expect(float.ok).toBe(false);
    expect(float.detail).toMatch(/grpc over tcp, request 0: .*`y`.*element 1/);
    const int = modelAgreementCheck(reference, new Map([['msgpack over unix', [reference[0], out([1e-9, -3], 3)]]]), 1);
    expect(int.ok).toBe(false);
    expect(int.detail).toMatch(/msgpack over unix, request 1: .*`label`/);
    const missing = modelAgreementCheck(reference, new Map([['framed over tcp', [[makeTensor('y', 'FP32', [2], [0.5, 0.25])], reference[1]]]]), 1e-5);
    expect(missing.detail).toContain('`label`');
  });

  it('fails when the reference is missing or no arm answered every request', () => {
    expect(modelAgreementCheck([reference[0], undefined], new Map([['framed over unix', reference]]), 1e-5).ok).toBe(false);
    expect(modelAgreementCheck(reference, new Map([['framed over unix', [reference[0], undefined]]]), 1e-5).ok).toBe(false);
  });
});

describe('model options', () => {
  it('needs --model with --suite model, a spec that names a class, and files that exist', () => {
    const usage = (options: Parameters<typeof resolveConfig>[0]): string => {
      try {
        resolveConfig(options);
        return 'no error';
      } catch (error) {
        return `${(error as { code: string }).code}: ${(error as Error).message}`;
      }
    };
    expect(usage({ suites: ['model'] })).toMatch(/^USAGE: Expected `--model path/);
    expect(usage({ suites: ['model'], modelPath: 'examples/tabular_mlp.py' })).toMatch(/^USAGE: Expected `--model` to be path\/to\/file.py:Class/);
    expect(usage({ suites: ['model'], modelPath: 'no/such/file.py:Model' })).toMatch(/^USAGE: `--model no\/such\/file.py:Model`: no file /);
    expect(usage({ suites: ['model'], modelPath: 'pkg.mod:Model', floatTolerance: -1 })).toMatch(/^USAGE: Expected `--float-tolerance`/);
    expect(usage({ suites: ['model'], modelPath: 'pkg.mod:Model', modelInputs: '/no/such.json' })).toMatch(/^USAGE: `--model-inputs/);
    expect(resolveConfig({ suites: ['model'], modelPath: 'pkg.mod:Model' }).floatTolerance).toBe(1e-5);
  });

  it('hands the sidecar a file spec as an absolute path', () => {
    const config = resolveConfig({ suites: ['model'], modelPath: 'sidecars/inprocess.py:Model' });
    expect(modelSpecArg(config, 'model')).toBe(`${path.resolve('sidecars/inprocess.py')}:Model`);
    expect(modelSpecArg(config, 'cifar')).toBe('cifar');
  });

  it('reads metadata strictly', async () => {
    expect(parseMetadata({ name: 'm', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1] }], outputs: [] }).inputs[0]?.shape).toEqual([-1]);
    expect(await codeOf(Promise.resolve().then(() => parseMetadata({ name: 'm', inputs: [{ name: 'x', datatype: 'FLOAT', shape: [1] }], outputs: [] })))).toBe('PROTOCOL_ERROR');
    expect(await codeOf(Promise.resolve().then(() => parseMetadata({ inputs: [], outputs: [] })))).toBe('PROTOCOL_ERROR');
  });
});
