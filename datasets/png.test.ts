import path from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { HarnessError } from '../transports/errors.js';
import { sharedDir } from '../harness/paths.js';
import { IMAGE_BYTES, loadTestSet } from './cifar10.js';
import { planarToPng, pngToPlanar, readPngFile } from './png.js';
import { syntheticImages } from './synthetic.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof HarnessError ? error.code : String(error);
  }
  return undefined;
}

describe('PNG <-> planar', () => {
  it('round-trips planar -> PNG -> planar exactly', () => {
    const images = syntheticImages(5, 7);
    for (let i = 0; i < 5; i++) {
      const image = images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES);
      const png = planarToPng(image);
      expect(PNG.sync.read(png).colorType).toBe(2); // RGB, no alpha
      expect(pngToPlanar(png, `synthetic ${i}`)).toEqual(image);
    }
  });

  it('refuses a non-PNG, a broken PNG, and a PNG of the wrong size with BAD_INPUT naming the file', () => {
    expect(codeOf(() => pngToPlanar(Buffer.from('not a png at all'), 'notes.txt'))).toBe('BAD_INPUT');
    expect(() => pngToPlanar(Buffer.from('not a png at all'), 'notes.txt')).toThrow(/notes\.txt/);
    const good = planarToPng(new Uint8Array(IMAGE_BYTES));
    expect(codeOf(() => pngToPlanar(good.subarray(0, 40), 'cut.png'))).toBe('BAD_INPUT');
    const big = PNG.sync.write(new PNG({ width: 64, height: 48 }));
    expect(codeOf(() => pngToPlanar(big, 'big.png'))).toBe('BAD_INPUT');
    expect(() => pngToPlanar(big, 'big.png')).toThrow(/big\.png.*64x48/);
    expect(codeOf(() => planarToPng(new Uint8Array(10)))).toBe('BAD_INPUT');
  });

  it('reports a missing file as BAD_INPUT', async () => {
    const error = await readPngFile('/nonexistent/image.png').catch((e: unknown) => e);
    expect((error as HarnessError).code).toBe('BAD_INPUT');
  });

  const shared = sharedDir('datasets', 'cifar10');
  it.skipIf(shared === undefined)('reads the 20 sample PNGs pixel-identical to test records 0-19', async () => {
    const dir = shared as string;
    const set = await loadTestSet(dir, 20);
    for (let i = 0; i < 20; i++) {
      const file = path.join(dir, 'sample-images', `image${String(i).padStart(2, '0')}.png`);
      const expected = set.images.subarray(i * IMAGE_BYTES, (i + 1) * IMAGE_BYTES);
      expect(await readPngFile(file), file).toEqual(expected);
      expect(pngToPlanar(planarToPng(expected), file)).toEqual(await readPngFile(file));
    }
  });
});
