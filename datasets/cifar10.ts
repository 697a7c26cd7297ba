/**
 * The official CIFAR-10 binary format (`cifar-10-batches-bin`): a file is a run of 3073-byte records,
 * 1 label byte (0-9) then 3072 pixel bytes, planar R, G, B, each plane 32x32 row by row.
 * Records are streamed through a file handle, so a `limit` of 100 reads 100 records, not 30 MB.
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { HarnessError } from '../transports/errors.js';

export const IMAGE_BYTES = 3072;
export const RECORD_BYTES = 1 + IMAGE_BYTES;
export const CLASS_COUNT = 10;
export const TEST_FILE = 'test_batch.bin';
export const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const META_FILE = 'batches.meta.txt';
export const DEFAULT_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

/**
 * A property of the `../shared/datasets/cifar10` copy, not of CIFAR-10: there only records 0-1016 of
 * each file are bit-exact; the rest were decoded from a JPEG export (see that directory's README).
 */
export const EXACT_RECORDS = 1017;

// Records per read: 256 records is 786 KB, large enough that syscalls do not dominate.
const CHUNK_RECORDS = 256;

export interface CifarRecord {
  /** Position in the file, counting from 0 (not from `offset`). */
  readonly index: number;
  readonly label: number;
  /** 3072 planar bytes; a view into a buffer that is never reused, so it may be kept. */
  readonly image: Uint8Array;
}

export interface ReadRange {
  /** First record to read (default 0). */
  readonly offset?: number;
  /** At most this many records (default: to the end of the file). */
  readonly limit?: number;
}

function checkCount(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= 0)) {
    throw new HarnessError('USAGE', `Expected \`${name}\` to be a non-negative integer, got \`${value}\``);
  }
}

/** The number of records in a CIFAR-10 binary file, after checking that it holds whole records. */
export async function countCifarRecords(file: string): Promise<number> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    throw new HarnessError('SETUP_FAILED', `Cannot read the CIFAR-10 file \`${file}\`: ${(error as Error).message}`, { cause: error });
  }
  if (size === 0 || size % RECORD_BYTES !== 0) {
    throw new HarnessError('BAD_INPUT', `Expected \`${file}\` to hold whole ${RECORD_BYTES}-byte CIFAR-10 records, got ${size} bytes (${size % RECORD_BYTES} left over)`);
  }
  return size / RECORD_BYTES;
}

/** Stream the records of `file` in `[offset, offset + limit)`, reading only those bytes. */
export async function* readCifarRecords(file: string, range: ReadRange = {}): AsyncGenerator<CifarRecord> {
  checkCount('offset', range.offset);
  checkCount('limit', range.limit);
  const total = await countCifarRecords(file);
  const first = Math.min(range.offset ?? 0, total);
  const end = range.limit === undefined ? total : Math.min(total, first + range.limit);
  const handle = await open(file, 'r');
  try {
    for (let start = first; start < end; start += CHUNK_RECORDS) {
      const count = Math.min(CHUNK_RECORDS, end - start);
      const buffer = new Uint8Array(count * RECORD_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, start * RECORD_BYTES);
      if (bytesRead !== buffer.length) {
        throw new HarnessError('BAD_INPUT', `\`${file}\` ended early at record ${start} (was it truncated while being read?)`);
      }
      for (let i = 0; i < count; i++) {
        const at = i * RECORD_BYTES;
        const label = buffer[at] as number;
        if (label >= CLASS_COUNT) {
          throw new HarnessError('BAD_INPUT', `Expected the label of record ${start + i} of \`${file}\` to be 0-9, got ${label}: not a CIFAR-10 binary file?`);
        }
        yield { index: start + i, label, image: buffer.subarray(at + 1, at + RECORD_BYTES) };
      }
    }
  } finally {
    await handle.close();
  }
}

/** Class names from `batches.meta.txt`, one per line; the 10 standard names when it is absent or odd. */
export function readClassNames(dir: string | undefined): readonly string[] {
  if (dir !== undefined) {
    try {
      const names = readFileSync(path.join(dir, META_FILE), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
      if (names.length === CLASS_COUNT) return Object.freeze(names);
    } catch {
      // No readable meta file: the standard names are the official ones anyway.
    }
  }
  return DEFAULT_CLASS_NAMES;
}

/**
 * How many leading records of each file in `dir` have exact pixels. The official data is exact
 * throughout; the shared copy says in its README that later records were decoded from JPEG.
 */
export function exactRecordLimit(dir: string): number {
  const readme = path.join(dir, 'README.md');
  if (existsSync(readme) && /jpe?g/i.test(readFileSync(readme, 'utf8'))) return EXACT_RECORDS;
  return Number.POSITIVE_INFINITY;
}

/** The first `count` test images, ready to send: images are contiguous, image i at i * 3072. */
export interface CifarTestSet {
  readonly dir: string;
  readonly count: number;
  readonly labels: Uint8Array;
  readonly images: Uint8Array;
  readonly classNames: readonly string[];
  /** Images 0 .. exactCount-1 have exact pixels; accuracy over them compares with published numbers. */
  readonly exactCount: number;
}

/** Read the first `limit` records (default all) of `test_batch.bin` in `dir`. */
export async function loadTestSet(dir: string, limit?: number): Promise<CifarTestSet> {
  checkCount('limit', limit);
  const file = path.join(dir, TEST_FILE);
  const total = await countCifarRecords(file);
  const count = Math.min(total, limit ?? total);
  const labels = new Uint8Array(count);
  const images = new Uint8Array(count * IMAGE_BYTES);
  for await (const record of readCifarRecords(file, { limit: count })) {
    labels[record.index] = record.label;
    images.set(record.image, record.index * IMAGE_BYTES);
  }
  return Object.freeze({ dir, count, labels, images, classNames: readClassNames(dir), exactCount: Math.min(count, exactRecordLimit(dir)) });
}
