/**
 * Download the official CIFAR-10 binary archive, check its md5 as it streams in, and unpack it.
 * Everything happens in a temporary directory beside the target, which is renamed into place only
 * when the archive was whole and right: a failed or interrupted fetch never leaves a partial cache.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { createGunzip } from 'node:zlib';
import { HarnessError } from '../transports/errors.js';
import { countCifarRecords, META_FILE, TEST_FILE } from './cifar10.js';
import { tarEvents } from './tar.js';

export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';

/** Called as bytes arrive; `totalBytes` is undefined when the server sent no content-length. */
export type OnProgress = (receivedBytes: number, totalBytes: number | undefined) => void;

export interface FetchOptions {
  readonly url: string;
  /** Where the .bin files and batches.meta.txt end up (replaced as a whole if it exists). */
  readonly dir: string;
  /** Lower-case hex md5 of the archive. */
  readonly md5: string;
  readonly onProgress?: OnProgress;
}

export interface FetchResult {
  readonly dir: string;
  readonly archiveBytes: number;
  readonly files: readonly string[];
}

// The archive's entries live under this folder; only these names are unpacked, flat into `dir`.
const ARCHIVE_FOLDER = 'cifar-10-batches-bin';
const wanted = (name: string): string | undefined => {
  const match = /^(?:\.\/)?cifar-10-batches-bin\/([A-Za-z0-9_.-]+)$/.exec(name);
  const base = match?.[1];
  return base !== undefined && (base.endsWith('.bin') || base === META_FILE) ? base : undefined;
};

const failed = (message: string, cause?: unknown): HarnessError =>
  new HarnessError('SETUP_FAILED', message, cause === undefined ? {} : { cause });

/** Stream `url` into `file`, hashing as it goes; resolves with the byte count and md5. */
async function download(url: string, file: string, onProgress: OnProgress | undefined): Promise<{ bytes: number; md5: string }> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow' });
  } catch (error) {
    const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    throw failed(`Cannot download \`${url}\`: ${reason}`, error);
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw failed(`Cannot download \`${url}\`: the server answered HTTP ${response.status} ${response.statusText}`);
  }
  const header = response.headers.get('content-length');
  const total = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  const hash = createHash('md5');
  let bytes = 0;
  const tap = async function* (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    for await (const chunk of source) {
      hash.update(chunk);
      bytes += chunk.length;
      onProgress?.(bytes, total);
      yield chunk;
    }
  };
  try {
    await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), tap, createWriteStream(file));
  } catch (error) {
    const reason = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
    throw failed(`The download of \`${url}\` broke off after ${bytes} bytes: ${reason}`, error);
  }
  if (total !== undefined && bytes !== total) {
    throw failed(`The download of \`${url}\` is truncated: got ${bytes} of ${total} bytes`);
  }
  return { bytes, md5: hash.digest('hex') };
}

/** gunzip + untar `archive`, writing the wanted entries into `out`; returns their names. */
async function unpack(archive: string, out: string): Promise<string[]> {
  const files: string[] = [];
  try {
    await pipeline(createReadStream(archive), createGunzip(), async (source: AsyncIterable<Uint8Array>) => {
      let target: Awaited<ReturnType<typeof open>> | undefined;
      try {
        for await (const event of tarEvents(source)) {
          if (event.kind === 'entry') {
            await target?.close();
            target = undefined;
            const base = event.type === 'file' ? wanted(event.name) : undefined;
            if (base === undefined) continue;
            files.push(base);
            target = await open(path.join(out, base), 'wx');
          } else if (target !== undefined) {
            await target.write(event.chunk);
          }
        }
      } finally {
        await target?.close();
      }
    });
  } catch (error) {
    const zlib = String((error as NodeJS.ErrnoException).code).startsWith('Z_') ? 'gunzip: ' : '';
    throw failed(`The archive is broken and was not unpacked: ${zlib}${(error as Error).message}`, error);
  }
  return files;
}

/** Check that what was unpacked is CIFAR-10 binary data before it becomes the cache. */
async function verify(out: string, files: readonly string[]): Promise<void> {
  for (const required of [TEST_FILE, META_FILE]) {
    if (!files.includes(required)) throw failed(`The archive holds no \`${ARCHIVE_FOLDER}/${required}\` (found: ${files.join(', ') || 'nothing'})`);
  }
  for (const file of files.filter((f) => f.endsWith('.bin'))) {
    try {
      await countCifarRecords(path.join(out, file));
    } catch (error) {
      throw failed(`The archive's \`${file}\` is not CIFAR-10 binary data: ${(error as Error).message}`, error);
    }
  }
}

/** Swap `fresh` in as `dir`: the old directory, if any, is moved aside first and removed after. */
async function replaceDir(fresh: string, dir: string, scratch: string): Promise<void> {
  const old = path.join(scratch, 'previous');
  const hadOld = await rename(dir, old).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw failed(`Cannot replace \`${dir}\`: ${error.message}`, error);
    },
  );
  try {
    await rename(fresh, dir);
  } catch (error) {
    if (hadOld) await rename(old, dir).catch(() => undefined);
    throw failed(`Cannot move the unpacked data into \`${dir}\`: ${(error as Error).message}`, error);
  }
}

export async function fetchCifar10(options: FetchOptions): Promise<FetchResult> {
  const dir = path.resolve(options.dir);
  const expectedMd5 = options.md5.toLowerCase();
  await mkdir(path.dirname(dir), { recursive: true });
  // Beside the target, so the final rename stays on one file system and is atomic.
  const scratch = await mkdtemp(path.join(path.dirname(dir), `.${path.basename(dir)}.partial-`));
  try {
    const archive = path.join(scratch, 'archive.tar.gz');
    const { bytes, md5 } = await download(options.url, archive, options.onProgress);
    if (md5 !== expectedMd5) {
      throw failed(`The download of \`${options.url}\` is corrupt: md5 ${md5}, expected ${expectedMd5} (${bytes} bytes)`);
    }
    const out = path.join(scratch, 'unpacked');
    await mkdir(out);
    const files = await unpack(archive, out);
    await verify(out, files);
    await rm(archive);
    await replaceDir(out, dir, scratch);
    return Object.freeze({ dir, archiveBytes: bytes, files: Object.freeze((await readdir(dir)).sort()) });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
