import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetsCommand } from '../harness/cli/datasets.js';
import { RECORD_BYTES } from './cifar10.js';
import { fetchCifar10 } from './fetch.js';
import { writeTar } from './tar.js';
import { codeOf } from '../harness/testing.js';

const NAMES = 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n';
const records = (count: number, seed: number): Uint8Array =>
  Uint8Array.from({ length: count * RECORD_BYTES }, (_, i) => (i % RECORD_BYTES === 0 ? (i / RECORD_BYTES + seed) % 10 : (i * seed) & 0xff));

const files = { 'test_batch.bin': records(3, 1), 'data_batch_1.bin': records(4, 2), 'batches.meta.txt': Buffer.from(NAMES) };
const archive = gzipSync(
  writeTar([
    ...Object.entries(files).map(([name, data]) => ({ name: `cifar-10-batches-bin/${name}`, data })),
    { name: 'cifar-10-batches-bin/readme.html', data: Buffer.from('<p>not unpacked</p>') },
  ]),
);
const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex');
const corrupt = Uint8Array.from(archive);
const flipAt = Math.floor(archive.length / 2);
corrupt[flipAt] = (corrupt[flipAt] as number) ^ 0xff;
const cutArchive = archive.subarray(0, archive.length - 40);

let server: Server;
let base = '';
let root = '';

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'fetch-test-'));
  server = createServer((req, res) => {
    const send = (body: Uint8Array, headers: Record<string, string | number> = { 'content-length': body.length }): void => {
      res.writeHead(200, headers);
      res.end(body);
    };
    if (req.url === '/good') send(archive);
    else if (req.url === '/chunked') send(archive, {}); // no content-length: progress is plain byte counts
    else if (req.url === '/corrupt') send(corrupt);
    else if (req.url === '/cut-archive') send(cutArchive);
    else if (req.url === '/truncated') {
      res.writeHead(200, { 'content-length': archive.length });
      res.write(archive.subarray(0, 100), () => res.destroy());
    } else {
      res.writeHead(500);
      res.end('boom');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});


/** The target's parent holds only the target (if any): no partial directories left behind. */
async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(path.dirname(dir))).filter((name) => name !== path.basename(dir));
}

describe('fetchCifar10', () => {
  it('downloads, checks the md5, and unpacks only the data files', async () => {
    const dir = path.join(root, 'ok', 'cifar10');
    const seen: number[] = [];
    const result = await fetchCifar10({ url: `${base}/good`, dir, md5: md5(archive), onProgress: (n) => seen.push(n) });
    expect(result.files).toEqual(['batches.meta.txt', 'data_batch_1.bin', 'test_batch.bin']);
    for (const [name, data] of Object.entries(files)) expect(new Uint8Array(await readFile(path.join(dir, name)))).toEqual(new Uint8Array(data));
    expect(seen.at(-1)).toBe(archive.length);
    expect(await leftovers(dir)).toEqual([]);
  });

  it('replaces an earlier cache as a whole, also without a content-length', async () => {
    const dir = path.join(root, 'replace', 'cifar10');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'stale.bin'), 'old');
    await fetchCifar10({ url: `${base}/chunked`, dir, md5: md5(archive) });
    expect((await readdir(dir)).sort()).toEqual(['batches.meta.txt', 'data_batch_1.bin', 'test_batch.bin']);
    expect(await leftovers(dir)).toEqual([]);
  });

  it('refuses a corrupt download (md5 mismatch) and leaves no cache, nor touches an old one', async () => {
    const dir = path.join(root, 'corrupt', 'cifar10');
    expect(await codeOf(fetchCifar10({ url: `${base}/corrupt`, dir, md5: md5(archive) }))).toBe('SETUP_FAILED');
    expect(existsSync(dir)).toBe(false);
    expect(await leftovers(dir)).toEqual([]);
    await mkdir(dir);
    await writeFile(path.join(dir, 'test_batch.bin'), records(1, 0));
    await expect(fetchCifar10({ url: `${base}/corrupt`, dir, md5: md5(archive) })).rejects.toThrow(/md5/);
    expect(await readdir(dir)).toEqual(['test_batch.bin']);
  });

  it('refuses a broken archive even when its md5 matches', async () => {
    const dir = path.join(root, 'cut', 'cifar10');
    await expect(fetchCifar10({ url: `${base}/cut-archive`, dir, md5: md5(cutArchive) })).rejects.toThrow(/broken/);
    expect(existsSync(dir)).toBe(false);
    expect(await leftovers(dir)).toEqual([]);
  });

  it('refuses a truncated body and an HTTP error', async () => {
    const dir = path.join(root, 'http', 'cifar10');
    expect(await codeOf(fetchCifar10({ url: `${base}/truncated`, dir, md5: md5(archive) }))).toBe('SETUP_FAILED');
    await expect(fetchCifar10({ url: `${base}/missing`, dir, md5: md5(archive) })).rejects.toThrow(/HTTP 500/);
    expect(await codeOf(fetchCifar10({ url: 'http://127.0.0.1:1/none', dir, md5: md5(archive) }))).toBe('SETUP_FAILED');
    expect(existsSync(dir)).toBe(false);
    expect(await leftovers(dir)).toEqual([]);
  });
});

describe('datasets fetch command', () => {
  it('fetches with --url --dir --md5 and rejects bad flags as USAGE', async () => {
    const dir = path.join(root, 'cli', 'cifar10');
    expect(await datasetsCommand(['fetch', 'cifar10', '--url', `${base}/good`, '--dir', dir, '--md5', md5(archive)])).toBe(0);
    expect(existsSync(path.join(dir, 'test_batch.bin'))).toBe(true);
    expect(await codeOf(datasetsCommand(['fetch', 'mnist']))).toBe('USAGE');
    expect(await codeOf(datasetsCommand(['fetch', 'cifar10', '--md5', 'xyz']))).toBe('USAGE');
    expect(await codeOf(datasetsCommand(['fetch', 'cifar10', '--url', 'ftp://x/y']))).toBe('USAGE');
    expect(await codeOf(datasetsCommand(['fetch', 'cifar10', '--bogus']))).toBe('USAGE');
  });
});
