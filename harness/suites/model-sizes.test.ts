/** `--tensor-bytes`: which dimensions are sized, how near the size comes, and the flag's path into the config. */
import { describe, expect, it } from 'vitest';
import type { ModelMetadata } from '../../transports/types.js';
import { parseRunFlags } from '../cli/run-flags.js';
import { resolveConfig } from '../config.js';
import { codeOf } from '../testing.js';
import { synthesiseRequests } from './model-inputs.js';
import { BYTES_ELEMENT_ESTIMATE, DISTINCT_BYTES_BUDGET, distinctRequests, sizeInputs } from './model-sizes.js';

const meta = (inputs: ModelMetadata['inputs']): ModelMetadata => ({ name: 'm', inputs, outputs: [] });
const ECHO = meta([{ name: 'payload', datatype: 'UINT8', shape: [-1] }]);
const TABULAR = meta([{ name: 'features', datatype: 'FP32', shape: [-1, 32] }]);
const bytesOf = (request: readonly { data: Uint8Array }[]): number => request.reduce((n, t) => n + t.data.length, 0);

describe('sizeInputs', () => {
  it("sizes the echo model's only dimension to the byte", () => {
    for (const target of [1024, 65_536, 4 * 1024 * 1024]) {
      const sized = sizeInputs(ECHO, target);
      expect(sized).toMatchObject({ targetBytes: target, shapes: [[target]], bytes: target, dim: target, sized: 'payload[0]' });
      const [request] = synthesiseRequests(ECHO, { seed: 1, count: 1, batch: 1, shapes: sized.shapes });
      expect(bytesOf(request ?? [])).toBe(target);
    }
  });

  it('sizes rows of a fixed width by their count, to the nearest row', () => {
    expect(sizeInputs(TABULAR, 1024)).toMatchObject({ shapes: [[8, 32]], bytes: 1024, dim: 8 });
    expect(sizeInputs(TABULAR, 1000)).toMatchObject({ shapes: [[8, 32]], bytes: 1024 }); // 896 is further off
    expect(sizeInputs(TABULAR, 10)).toMatchObject({ shapes: [[1, 32]], bytes: 128 }); // never below one row
  });

  it('sizes the dimensions past the batch where there are any, the same value in every input', () => {
    const m = meta([
      { name: 'ids', datatype: 'INT64', shape: [-1, -1] },
      { name: 'mask', datatype: 'BOOL', shape: [-1, -1] },
      { name: 'scale', datatype: 'FP32', shape: [-1, 4] },
    ]);
    const sized = sizeInputs(m, 9 * 1000 + 16);
    expect(sized.sized).toBe('ids[1], mask[1]');
    expect(sized.shapes).toEqual([[1, 1000], [1, 1000], [1, 4]]);
    expect(sized.bytes).toBe(9016);
    const squares = sizeInputs(meta([{ name: 'image', datatype: 'FP32', shape: [-1, 3, -1, -1] }]), 3 * 4 * 64 * 64);
    expect(squares.shapes).toEqual([[1, 3, 64, 64]]);
  });

  it('estimates BYTES elements', () => {
    const text = meta([{ name: 'text', datatype: 'BYTES', shape: [-1] }]);
    expect(sizeInputs(text, 64 * BYTES_ELEMENT_ESTIMATE).shapes).toEqual([[64]]);
  });

  it('refuses a model with nothing to size', async () => {
    const fixed = meta([{ name: 'x', datatype: 'FP32', shape: [1, 32] }]);
    expect(await codeOf(Promise.resolve().then(() => sizeInputs(fixed, 1024)))).toBe('USAGE');
  });

  it('keeps fewer distinct requests for large sizes, never none', () => {
    expect(distinctRequests(200, 1024)).toBe(200);
    expect(distinctRequests(200, 4 * 1024 * 1024)).toBe(DISTINCT_BYTES_BUDGET / (4 * 1024 * 1024));
    expect(distinctRequests(200, DISTINCT_BYTES_BUDGET * 2)).toBe(1);
  });
});

describe('--tensor-bytes and --model-name', () => {
  it('parse as sizes and a name, and refuse a size of zero', async () => {
    const { options } = await parseRunFlags(['--suite', 'model', '--connect', 'tcp:127.0.0.1:8000', '--tensor-bytes', '1KiB,64KiB,4MiB', '--model-name', 'densenet']);
    const config = resolveConfig(options);
    expect(config.tensorBytes).toEqual([1024, 65_536, 4 * 1024 * 1024]);
    expect(config.modelName).toBe('densenet');
    expect(await codeOf(Promise.resolve().then(() => resolveConfig({ ...options, tensorBytes: [0] })))).toBe('USAGE');
  });

  it('need no --model under --connect: the server has the model', () => {
    expect(resolveConfig({ suites: ['model'], connect: 'tcp:127.0.0.1:8000' }).modelPath).toBeUndefined();
  });

  it('refuse --tensor-bytes with --model-inputs, which gives the requests', async () => {
    expect(await codeOf(Promise.resolve().then(() => resolveConfig({ suites: ['model'], modelPath: 'pkg.mod:M', modelInputs: 'package.json', tensorBytes: [1024] })))).toBe('USAGE');
  });
});
