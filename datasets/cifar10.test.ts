import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedDir } from '../harness/paths.js';
import { countCifarRecords, DEFAULT_CLASS_NAMES, EXACT_RECORDS, IMAGE_BYTES, loadTestSet, readCifarRecords, readClassNames, RECORD_BYTES, TEST_FILE } from './cifar10.js';
import { syntheticImages, syntheticSet } from './synthetic.js';
import { codeOf } from '../harness/testing.js';

/** `count` records: record i has label i % 10 and every pixel byte (i * 7 + plane) & 0xff. */
function fakeRecords(count: number, label = (i: number): number => i % 10): Uint8Array {
  const out = new Uint8Array(count * RECORD_BYTES);
  for (let i = 0; i < count; i++) {
    out[i * RECORD_BYTES] = label(i);
    for (let c = 0; c < 3; c++) out.fill((i * 7 + c) & 0xff, i * RECORD_BYTES + 1 + c * 1024, i * RECORD_BYTES + 1 + (c + 1) * 1024);
  }
  return out;
}


async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cifar10-test-'));
  await writeFile(path.join(dir, TEST_FILE), fakeRecords(600));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('readCifarRecords', () => {
  it('streams a range across chunk boundaries, indexed from the start of the file', async () => {
    const records = await collect(readCifarRecords(path.join(dir, TEST_FILE), { offset: 250, limit: 20 }));
    expect(records.map((r) => r.index)).toEqual(Array.from({ length: 20 }, (_, i) => 250 + i));
    for (const r of records) {
      expect(r.label).toBe(r.index % 10);
      expect(r.image.length).toBe(IMAGE_BYTES);
      expect([r.image[0], r.image[1024], r.image[3071]]).toEqual([(r.index * 7) & 0xff, (r.index * 7 + 1) & 0xff, (r.index * 7 + 2) & 0xff]);
    }
  });

  it('clamps a range past the end and reads everything by default', async () => {
    expect(await collect(readCifarRecords(path.join(dir, TEST_FILE), { offset: 590, limit: 100 }))).toHaveLength(10);
    expect(await collect(readCifarRecords(path.join(dir, TEST_FILE)))).toHaveLength(600);
  });

  it('refuses a file that is not whole records, and a label above 9, with BAD_INPUT', async () => {
    const ragged = path.join(dir, 'ragged.bin');
    await writeFile(ragged, new Uint8Array(RECORD_BYTES * 2 + 5));
    expect(await codeOf(countCifarRecords(ragged))).toBe('BAD_INPUT');
    const badLabel = path.join(dir, 'label.bin');
    await writeFile(badLabel, fakeRecords(3, (i) => (i === 2 ? 10 : 0)));
    expect(await codeOf(collect(readCifarRecords(badLabel)))).toBe('BAD_INPUT');
  });

  it('reports a missing file as SETUP_FAILED', async () => {
    expect(await codeOf(countCifarRecords(path.join(dir, 'absent.bin')))).toBe('SETUP_FAILED');
    expect(await codeOf(loadTestSet(path.join(dir, 'nowhere')))).toBe('SETUP_FAILED');
  });
});

describe('loadTestSet', () => {
  it('reads only the first `limit` records into contiguous arrays; official data is exact throughout', async () => {
    const set = await loadTestSet(dir, 300);
    expect(set.count).toBe(300);
    expect(set.images.length).toBe(300 * IMAGE_BYTES);
    expect(set.labels[299]).toBe(9);
    expect(set.images[299 * IMAGE_BYTES]).toBe((299 * 7) & 0xff);
    expect(set.exactCount).toBe(300);
    expect(set.classNames).toEqual(DEFAULT_CLASS_NAMES);
  });

  it('takes class names from batches.meta.txt when it has ten', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    await writeFile(path.join(dir, 'batches.meta.txt'), `${names.join('\n')}\n\n`);
    expect(readClassNames(dir)).toEqual(names);
    expect(readClassNames(undefined)).toEqual(DEFAULT_CLASS_NAMES);
    await rm(path.join(dir, 'batches.meta.txt'));
  });

  const shared = sharedDir('datasets', 'cifar10');
  it.skipIf(shared === undefined)('knows the shared copy is exact only up to record 1016', async () => {
    const first = await loadTestSet(shared as string, 20);
    expect([...first.labels].join(' ')).toBe('3 8 8 0 6 6 1 6 3 1 0 9 5 7 9 8 5 7 8 6');
    expect(first.exactCount).toBe(20);
    expect(first.classNames[3]).toBe('cat');
    expect((await loadTestSet(shared as string, 1500)).exactCount).toBe(EXACT_RECORDS);
  });
});

describe('synthetic images', () => {
  it('are deterministic per seed, in the planar layout, with no labels', () => {
    expect(syntheticImages(3, 1)).toEqual(syntheticImages(3, 1));
    expect(syntheticImages(3, 1)).not.toEqual(syntheticImages(3, 2));
    const set = syntheticSet(4);
    expect(set.images.length).toBe(4 * IMAGE_BYTES);
    expect(set.labels).toBeUndefined();
    expect(set.exactCount).toBe(0);
    expect(new Set(set.images).size).toBeGreaterThan(32); // not a flat image
  });
});
