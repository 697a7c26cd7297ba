import { describe, expect, it } from 'vitest';
import { HarnessError } from '../transports/errors.js';
import { tarEvents, writeTar } from './tar.js';

const entries = [
  { name: 'cifar-10-batches-bin/batches.meta.txt', data: Buffer.from('airplane\nautomobile\n') },
  { name: 'cifar-10-batches-bin/empty.bin', data: new Uint8Array(0) },
  { name: 'cifar-10-batches-bin/block.bin', data: new Uint8Array(512).fill(7) },
  { name: 'cifar-10-batches-bin/odd.bin', data: Uint8Array.from({ length: 1300 }, (_, i) => i & 0xff) },
];

async function* chunks(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length] as number;
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

/** Files as {name: bytes}, reassembled from the events. */
async function unpack(source: AsyncIterable<Uint8Array>): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array[]> = {};
  let current: Uint8Array[] = [];
  for await (const event of tarEvents(source)) {
    if (event.kind === 'entry') files[event.name] = current = [];
    else current.push(Uint8Array.from(event.chunk));
  }
  return Object.fromEntries(Object.entries(files).map(([k, v]) => [k, new Uint8Array(Buffer.concat(v))]));
}

const expected = Object.fromEntries(entries.map((e) => [e.name, new Uint8Array(e.data)]));

describe('tar reader', () => {
  it('reads what writeTar wrote, whatever the chunk boundaries', async () => {
    const archive = writeTar(entries);
    for (const sizes of [[archive.length], [1], [511, 2], [513], [100, 1000, 3], [4096]]) {
      expect(await unpack(chunks(archive, sizes))).toEqual(expected);
    }
  });

  it('ignores padding after the end marker', async () => {
    const archive = Buffer.concat([writeTar(entries), new Uint8Array(10240)]);
    expect(await unpack(chunks(archive, [777]))).toEqual(expected);
  });

  it('refuses an archive cut anywhere before its end marker, and a damaged header', async () => {
    const archive = writeTar(entries);
    for (let cut = 0; cut < archive.length - 1024; cut += 97) {
      const error = await unpack(chunks(archive.subarray(0, cut), [200])).catch((e: unknown) => e);
      expect((error as HarnessError).code, `cut at ${cut}`).toBe('BAD_INPUT');
    }
    const damaged = Uint8Array.from(archive);
    damaged[10] = 0x41;
    expect(((await unpack(chunks(damaged, [512])).catch((e: unknown) => e)) as HarnessError).code).toBe('BAD_INPUT');
  });
});
