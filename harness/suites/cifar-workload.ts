/** The cifar suite's images: the real test set when one is found, else generated images. */
import { loadTestSet } from '../../datasets/cifar10.js';
import { locateCifar10 } from '../../datasets/locate.js';
import { syntheticSet } from '../../datasets/synthetic.js';
import type { ResolvedConfig } from '../config.js';

export interface CifarWorkload {
  readonly images: Uint8Array;
  /** Undefined for generated images: accuracy is then not applicable. */
  readonly labels: Uint8Array | undefined;
  readonly classNames: readonly string[];
  readonly exactCount: number;
  readonly source: string;
}

const SYNTHETIC_COUNT = 1000;

export async function loadCifarWorkload(config: ResolvedConfig): Promise<CifarWorkload> {
  const located = locateCifar10({ data: config.data });
  if (located === undefined) {
    const set = syntheticSet(config.limit ?? SYNTHETIC_COUNT);
    return { images: set.images, labels: undefined, classNames: set.classNames, exactCount: 0, source: `generated images (seed ${set.seed}; no CIFAR-10 data found)` };
  }
  const set = await loadTestSet(located.dir, config.limit);
  return { images: set.images, labels: set.labels, classNames: set.classNames, exactCount: set.exactCount, source: `${located.dir} (${located.source})` };
}
