/**
 * Generated images for machines with no CIFAR-10 data: the same planar 3072-byte layout, so every
 * transport and batch size can still be measured. They have no labels; accuracy is not applicable.
 */
import { HarnessError } from '../transports/errors.js';
import { DEFAULT_CLASS_NAMES, IMAGE_BYTES } from './cifar10.js';
import { mulberry32Uint32 } from './random.js';

export const SYNTHETIC_SEED = 0x5eed;

/** A set of synthetic images; shaped like CifarTestSet but with no labels and no exact subset. */
export interface SyntheticSet {
  readonly count: number;
  readonly seed: number;
  readonly images: Uint8Array;
  readonly labels: undefined;
  readonly classNames: readonly string[];
  readonly exactCount: 0;
}


/**
 * `count` images from `seed`: a smooth colour gradient plus noise, so they look like pictures to a
 * model (no all-zero activations) and do not compress to nothing if a transport compresses.
 */
export function syntheticImages(count: number, seed: number = SYNTHETIC_SEED): Uint8Array {
  if (!(Number.isInteger(count) && count >= 0)) {
    throw new HarnessError('USAGE', `Expected the synthetic image count to be a non-negative integer, got \`${count}\``);
  }
  const next = mulberry32Uint32(seed);
  const out = new Uint8Array(count * IMAGE_BYTES);
  for (let i = 0; i < count; i++) {
    const base = i * IMAGE_BYTES;
    for (let c = 0; c < 3; c++) {
      const r = next();
      const [gx, gy, offset] = [(r & 0xf) - 8, ((r >>> 4) & 0xf) - 8, (r >>> 8) & 0xff];
      for (let p = 0; p < 1024; p++) {
        const noise = (next() & 0x1f) - 16;
        out[base + c * 1024 + p] = Math.max(0, Math.min(255, offset + gx * (p & 31) + gy * (p >>> 5) + noise));
      }
    }
  }
  return out;
}

export function syntheticSet(count: number, seed: number = SYNTHETIC_SEED): SyntheticSet {
  return Object.freeze({ count, seed, images: syntheticImages(count, seed), labels: undefined, classNames: DEFAULT_CLASS_NAMES, exactCount: 0 });
}
